"""A command run as root acts as the data folder's owner, so it leaves no root-owned file.

On a box the daemon runs as the ``meshportal`` user and owns its data folder, and admins
type ``sudo meshportal peer trust …``.  Run as root, a command that opens the folder would
make root-owned files there: the lock file, the database when it makes one, the identity
keys and their temporaries.  (SQLite hands its -wal, -shm and -journal files to the
database's owner when it runs as root, but nothing else does.)  The daemon, unable to
open them, would then not start.  So such a command first becomes the folder's owner,
as ``sudo -u meshportal`` would have made it: supplementary groups, group, then user,
for good, before it opens anything in the folder.

A folder not made yet goes to ``init --owner USER`` when given, else to the owner of the
nearest folder above it: a user's own folder stays theirs, and under root's ``/var/lib``
the new folder is root's, which systemd's ``StateDirectory=`` hands, with every file in
it, to the service's user at its first start (it does so only when the folder itself is
not the user's: files made later by root inside the user's folder would stay root's).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "OwnerError", "act_as_data_owner", "owner_for"]

_TEXT = {
    "fr": {
        "no_user": "l'utilisateur « {user} » n'existe pas (option --owner)",
        "not_root": "--owner demande d'être root (sudo)",
        "other_owner": "le dossier de données {path} appartient déjà à {actual}, pas à {user}",
        "cannot_create": "impossible de créer le dossier de données {path} : {why}",
    },
    "en": {
        "no_user": "there is no user '{user}' (option --owner)",
        "not_root": "--owner needs root (sudo)",
        "other_owner": "data folder {path} already belongs to {actual}, not {user}",
        "cannot_create": "cannot create data folder {path}: {why}",
    },
}


class OwnerError(Exception):
    """``--owner`` names a user that cannot own this data folder; the message says why."""


@dataclass(frozen=True)
class Owner:
    """Who a command becomes: a user, its group and its supplementary groups."""

    uid: int
    gid: int
    groups: tuple[int, ...]


def _words() -> dict[str, str]:
    # status picks the admin's language; imported here so that `serve` pays nothing more
    from meshportal.status import admin_language

    return _TEXT[admin_language()]


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _owner_of_uid(uid: int, fallback_gid: int) -> Owner:
    """The groups the daemon would have as that user (systemd takes them from the user
    database); a uid with no name gets the folder's group and no others."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return Owner(uid, fallback_gid, ())
    return Owner(uid, entry.pw_gid, tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)))


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def owner_for(
    data_dir: Path, requested: str | None = None, euid: int | None = None
) -> Owner | None:
    """The user a command on `data_dir` must become, or None to stay as it is.

    Only root changes: anyone else can make only their own files anyway.  `requested` is
    ``init --owner``'s user, for a folder not made yet (or already theirs).
    """
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        if requested is not None and _named_uid(requested) != euid:
            raise OwnerError(_words()["not_root"])
        return None
    found = _nearest_existing(data_dir)
    info = found.stat()
    if requested is not None:
        uid = _named_uid(requested)
        if found == data_dir.absolute() and info.st_uid != uid:
            raise OwnerError(
                _words()["other_owner"].format(
                    path=data_dir, actual=_user_name(info.st_uid), user=requested
                )
            )
        return None if uid == 0 else _owner_of_uid(uid, info.st_gid)
    return None if info.st_uid == 0 else _owner_of_uid(info.st_uid, info.st_gid)


def _named_uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise OwnerError(_words()["no_user"].format(user=user)) from None


def become(owner: Owner) -> None:
    """Drop root for good: the groups first, while still allowed to set them."""
    os.setgroups(list(owner.groups))
    os.setgid(owner.gid)
    os.setuid(owner.uid)  # as root, sets the real, effective and saved uid: no way back
    # The service's own UMask (systemd/meshportal.service): new files not world-readable.
    os.umask(os.umask(0) | 0o027)


def act_as_data_owner(data_dir: Path, requested: str | None = None) -> None:
    """Become the owner `owner_for` names, after making the folder theirs if it is new.

    A new folder named with ``--owner`` is made here, as root, then given to that user:
    its parent may be root's, where the user could not make it.
    """
    owner = owner_for(data_dir, requested)
    if owner is None:
        return
    if requested is not None and not data_dir.exists():
        try:
            data_dir.mkdir(mode=0o750, parents=True)
            os.chown(data_dir, owner.uid, owner.gid)
        except OSError as exc:
            words = _words()["cannot_create"]
            raise OwnerError(words.format(path=data_dir, why=exc.strerror)) from None
    become(owner)
