"""Subprocess for the crash test: edits and commits in a loop, printing each acknowledged
(iteration, seq) only after async_commit returned.  The test SIGKILLs it at a random moment."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.sync.replicas import identity, open_store


async def main(path: Path) -> None:
    async with open_store(path) as store:
        r = await store.async_load(identity(1))
        n = r.value("meta")["n"] if "meta" in r.documents() else 0
        while True:
            n += 1
            r.insert_text("page", 0, f"é{n} ")
            r.set_key("meta", "n", n)
            if n % 7 == 0:
                r.replace_text("page", r.text("page")[:200])
            await store.async_commit(r)
            print(n, r.version_vector()[r.node_id], flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
