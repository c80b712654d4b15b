"""The reference for the start-up benchmark: a bare aiohttp hello-world, started like the daemon."""

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


app = web.Application()
app.router.add_get("/", hello)
print("ready", flush=True)  # printed before binding; the benchmark waits for an HTTP answer
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
