"""The local admin socket: how `meshportal status` asks the running daemon.

A Unix socket, mode 0660, owned by the daemon's group: only root and members
of that group can connect, and nothing on the network can.  One JSON request
line in, one JSON answer line out.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST = 4096


class AdminUnavailable(Exception):
    """No daemon answers on the socket."""


class AdminNoAnswer(AdminUnavailable):
    """A daemon took the request but gave no usable answer (it stopped, or failed)."""


class AdminDenied(Exception):
    """A daemon is there, but this user may not talk to it."""


def socket_path(configured: str, data_dir: Path, env: dict[str, str] | None = None) -> Path:
    if configured:
        return Path(configured)
    env = dict(os.environ) if env is None else env
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return Path(runtime) / "admin.sock" if runtime else data_dir / "admin.sock"


@contextlib.asynccontextmanager
async def serve_admin(path: Path, handler: Handler, group: str = "") -> AsyncIterator[None]:
    if path.is_socket():
        path.unlink()  # left by a killed daemon; the data-folder lock proves it is dead
    server = await asyncio.start_unix_server(
        lambda r, w: _serve_one(r, w, handler), path=str(path), limit=MAX_REQUEST
    )
    os.chmod(path, 0o660)
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        path.unlink(missing_ok=True)


async def _serve_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=5)
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            answer = await handler(request)
        except ValueError as exc:
            answer = {"error": f"bad request: {exc}"}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def ask(path: Path, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Blocking client for the CLI: one request, one answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise AdminUnavailable(str(exc)) from None
    except PermissionError:
        raise AdminDenied(f"permission denied on {path}: run as root or join its group") from None
    except TimeoutError:
        raise AdminUnavailable(f"the daemon did not answer on {path}") from None
    except ConnectionResetError:
        raise AdminNoAnswer(f"the daemon dropped the connection on {path}: see its log") from None
    if not chunks:  # it closed without a word: it stopped, or failed on this request
        raise AdminNoAnswer(f"the daemon closed {path} without answering: see its log")
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise AdminNoAnswer(f"the daemon's answer on {path} is not a JSON object")
    return answer
