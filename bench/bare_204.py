"""The reference for the probe benchmark: a static 204 handler in bare aiohttp.

    python bench/bare_204.py PORT [--uvloop]

The issue's target compares against it on asyncio's own loop; ``--uvloop`` runs it on
the loop the daemon uses, to show how much of the margin the loop alone gives.
"""

import asyncio
import sys

from aiohttp import web


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


app = web.Application()
app.router.add_get("/generate_204", no_content)
if "--uvloop" in sys.argv:
    import uvloop

    loop = uvloop.new_event_loop()
else:
    loop = asyncio.new_event_loop()
print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop)
