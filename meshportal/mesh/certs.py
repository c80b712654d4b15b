"""The box's TLS certificate: self-signed, and its key IS the box's Ed25519 identity key.

No certificate authority is involved.  A peer reads the public key out of the
certificate and hashes it into a node id, as Syncthing does; nothing else in
the certificate (names, dates) is trusted.  The validity window is the
widest X.509 allows, because a box without a real-time clock often boots in
1970 and must not refuse itself.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from meshportal.identity import Identity, load, node_id_from_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CERT_FILE = "sync-cert.pem"
KEY_FILE = "sync-key.pem"


class CertificateError(Exception):
    """A peer's certificate does not carry an Ed25519 key, or not the expected one."""


def make_certificate(key: Ed25519PrivateKey, node_id: str) -> bytes:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC))
        .sign(key, None)  # Ed25519 takes no separate hash
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def public_key_of(der: bytes) -> bytes:
    """The raw Ed25519 public key inside a DER certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except ValueError as exc:
        raise CertificateError(f"unreadable certificate: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError("the certificate's key is not Ed25519")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def node_id_of(der: bytes) -> str:
    return node_id_from_public_key(public_key_of(der))


def files_ready(data_dir: Path, identity: Identity) -> bool:
    cert_path = data_dir / CERT_FILE
    return (data_dir / KEY_FILE).exists() and cert_path.exists() and _matches(cert_path, identity)


async def async_ensure_files_in_child(data_dir: Path, identity: Identity) -> tuple[Path, Path]:
    """Make the files in a short-lived child process when they are missing.

    Making a certificate imports `cryptography` (~9 MB resident, never given
    back); a daemon that did it itself on first start would carry that
    weight until restarted.
    """
    if not files_ready(data_dir, identity):
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "meshportal.mesh.certs", str(data_dir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await child.communicate()
        if child.returncode != 0 or not files_ready(data_dir, identity):
            raise CertificateError(f"cannot make the sync certificate: {err.decode()[-300:]}")
    return data_dir / CERT_FILE, data_dir / KEY_FILE


def ensure_files(data_dir: Path, identity: Identity) -> tuple[Path, Path]:
    """The PEM files `ssl` needs, made once from the identity key (mode 0600)."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    if files_ready(data_dir, identity):
        return cert_path, key_path
    from cryptography.hazmat.primitives import serialization

    key = identity.private_key()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(key_path, pem_key, 0o600)
    _write_atomic(cert_path, make_certificate(key, identity.node_id), 0o644)
    return cert_path, key_path


# An Ed25519 SubjectPublicKeyInfo is always these 12 bytes, then the 32-byte key.
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")


def _matches(cert_path: Path, identity: Identity) -> bool:
    """Is our own certificate file made for this key?  Checked without `cryptography`.

    Only for OUR file (we wrote it): a byte search would be unsafe on a
    peer's certificate, which is why ``public_key_of`` parses those.
    """
    import ssl

    try:
        der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
    except (ValueError, OSError):
        return False
    return _ED25519_SPKI + identity.public_bytes in der


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    ensure_files(folder, load(folder))
