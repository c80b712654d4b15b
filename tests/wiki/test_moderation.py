"""Moderators: password from the CLI (scrypt), sign-in, hide, lock, hide a revision, pause
a device; every action is a change in the replica."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

from meshportal.web.admin_auth import SCRYPT_N, hash_password
from tests.conftest import ROOT, cli_env
from tests.wiki.conftest import Portal

PASSWORD = "un mot de passe solide"


async def _sign_in(portal: Portal, password: str = PASSWORD) -> int:
    csrf, _ = await portal.form("/admin")
    status, _html, _url = await portal.post(
        "/admin/connexion", {"csrf": csrf, "name": "admin", "password": password}
    )
    return status


def _cli_set_password(portal: Portal, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "meshportal",
            "admin",
            "set-password",
            "--stdin",
            "--data",
            str(portal.data),
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        cwd=ROOT,
        check=False,
    )


def _set_password(portal: Portal, password: str) -> None:
    done = _cli_set_password(portal, password)
    assert done.returncode == 0, done.stderr


async def test_set_password_stores_only_a_memory_hard_hash(portal: Portal) -> None:
    # the portal fixture's app is running in this process without holding the data lock,
    # so the CLI takes the offline path and writes the database itself
    short = _cli_set_password(portal, "court")
    assert short.returncode == 2 and "10" in short.stderr
    _set_password(portal, PASSWORD)
    with sqlite3.connect(portal.data / "meshportal.sqlite3") as db:
        digest, salt, params = db.execute("SELECT hash, salt, params FROM admin_account").fetchone()
    assert PASSWORD.encode() not in digest and params == f"{SCRYPT_N}:8:1"
    assert hash_password(PASSWORD, salt, params) == digest
    assert await _sign_in(portal, "mauvais mot de passe") == 403
    assert await _sign_in(portal) == 200


async def test_hide_lock_and_hide_revision(portal: Portal) -> None:
    _set_password(portal, PASSWORD)
    slug = await portal.create("Vandalisée", "contenu original")
    await portal.edit(slug, "GROS MOTS")
    await _sign_in(portal)
    csrf, _ = await portal.form(f"/wiki/{slug}")
    status, html = await portal.get(f"/wiki/{slug}/historique")
    bad_rev = re.findall(r'/version/([A-Z2-7-]+:\d+)"', html)[0]
    await portal.post(f"/wiki/{slug}/moderer", {"csrf": csrf, "action": "hide-rev", "rev": bad_rev})
    await portal.post(f"/wiki/{slug}/moderer", {"csrf": csrf, "action": "lock"})
    await portal.post(f"/wiki/{slug}/moderer", {"csrf": csrf, "action": "hide"})
    # a visitor (no admin cookie) sees none of it
    portal.client.cookie_jar.clear()
    assert (await portal.get(f"/wiki/{slug}"))[0] == 410
    assert (await portal.get(f"/wiki/{slug}/version/{bad_rev}"))[0] == 410
    assert "Vandalis" not in (await portal.get("/recherche?q=contenu"))[1]
    async with portal.client.get(portal.url(f"/wiki/{slug}/modifier")) as response:
        assert response.status == 403
    await _sign_in(portal)
    csrf, _ = await portal.form(f"/wiki/{slug}")
    await portal.post(f"/wiki/{slug}/moderer", {"csrf": csrf, "action": "show"})
    portal.client.cookie_jar.clear()
    status, html = await portal.get(f"/wiki/{slug}/historique")
    assert status == 200 and bad_rev not in html  # the hidden revision stays hidden
    async with portal.client.get(portal.url(f"/wiki/{slug}/modifier")) as response:
        assert response.status == 403  # still locked


async def test_moderation_needs_a_moderator(portal: Portal) -> None:
    slug = await portal.create("Libre", "x")
    csrf, _ = await portal.form(f"/wiki/{slug}/fichiers")  # any form: tokens are per device
    status, _html, _ = await portal.post(f"/wiki/{slug}/moderer", {"csrf": csrf, "action": "hide"})
    assert status == 403
    assert (await portal.get(f"/wiki/{slug}"))[0] == 200


async def test_a_paused_device_cannot_edit(portal: Portal) -> None:
    _set_password(portal, PASSWORD)
    slug = await portal.create("Ouverte", "x")
    await _sign_in(portal)
    csrf, _ = await portal.form(f"/wiki/{slug}")
    await portal.post(
        f"/wiki/{slug}/moderer",
        {"csrf": csrf, "action": "block", "client": "127.0.0.1", "for": "1h"},
    )
    portal.client.cookie_jar.clear()
    status, html, _ = await portal.edit(slug, "tentative")
    assert status == 403 and "tentative</textarea>" in html
