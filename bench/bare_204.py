"""The reference for the probe benchmark: a static 204 handler in bare aiohttp."""

import sys

from aiohttp import web


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


app = web.Application()
app.router.add_get("/generate_204", no_content)
print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
