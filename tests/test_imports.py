"""Each package imports on its own in a fresh interpreter, and the layers stay apart.

import-linter checks the static imports in `make lint`; this checks what is
really loaded at run time, including imports hidden inside functions.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from meshportal.web.routes import ROUTES
from tests.conftest import ROOT, cli_env

LOADED_BY = (
    "import sys, importlib, pkgutil\n"
    "pkg = importlib.import_module({package!r})\n"
    "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
    "    if not info.name.endswith('__main__'):\n"
    "        importlib.import_module(info.name)\n"
    "print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
)


def _loaded(package: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOADED_BY.format(package=package)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("sync", {"meshportal", "captive", "aiohttp", "jinja2", "multidict", "yarl"}),
        ("captive", {"meshportal", "sync"}),
    ],
)
def test_layers_stay_apart_at_run_time(package: str, forbidden: set[str]) -> None:
    loaded = _loaded(package)
    assert package in loaded
    assert not loaded & forbidden, f"{package} pulled in {sorted(loaded & forbidden)}"


def test_cli_imports_in_a_fresh_interpreter() -> None:
    assert "meshportal" in _loaded("meshportal")


def test_start_up_imports_nothing_heavy() -> None:
    """Idle memory is a budget (45 MB): the engine, cryptography, templates, Markdown and
    mDNS load on first use, never with the daemon's modules."""
    code = (
        "import sys, meshportal.daemon, meshportal.app, meshportal.mesh.service\n"
        "heavy = ('cryptography', 'jinja2', 'markdown_it', 'nh3', 'zeroconf', 'babel',\n"
        "         'sync.replica', 'sync.chain', 'sync.protocol', 'sync.ingest',\n"
        "         'meshportal.wiki.service', 'meshportal.web.wiki_views')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]", done.stdout


# What a started box must not have loaded before a visitor asks for a page that needs it.
# Each of these once loaded at start and cost the idle-memory and time-to-ready budgets
# (issue 2): the wiki service and its views, Markdown and the sanitiser, the engine; the
# command line's other subcommands and the status report (asked for by `meshportal
# status` only); the compiled-template cache, which comes with Jinja2.
LAZY = (
    "jinja2", "markdown_it", "nh3", "meshportal.wiki.service", "meshportal.wiki.index",
    "meshportal.wiki.merge", "meshportal.wiki.pages", "meshportal.web.wiki_views",
    "meshportal.web.admin_views", "meshportal.web.search_views", "sync.replica",
    "sync.textdiff", "sync.hlc", "meshportal.cli_ap", "meshportal.cli_peer",
    "meshportal.cli_pack", "meshportal.cli_admin", "meshportal.reference",
    "meshportal.status", "meshportal.sysinfo", "meshportal.web.template_cache",
    "captive.apcheck", "captive.apconfig", "getpass",
)  # fmt: skip

STARTED_BOX = """
import asyncio, sys, urllib.request
from pathlib import Path
from aiohttp import web
from meshportal import cli
from meshportal.app import create_app
from meshportal.daemon import initialise
from meshportal.sdnotify import Notifier

LAZY = {lazy!r}

def loaded(stage):
    print(stage, sorted(m for m in sys.modules if m.startswith(LAZY)), flush=True)

async def main(data):
    # the command line as `meshportal serve` reads it
    argv = ["serve", "--data", data, "--host", "127.0.0.1", "--port", "0",
            "--sync-port", "0", "--captive", "false"]
    settings = cli.resolve_settings(cli.build_parser(cli._asked_for(argv)).parse_args(argv), {{}})
    ident, _ = await initialise(settings.data_dir)
    runner = web.AppRunner(create_app(settings, ident, Notifier()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    loaded("started")
    for stage, path in (("home", "/"), ("wiki", "/wiki")):
        url = f"http://127.0.0.1:{{port}}{{path}}"
        status = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=20).status)
        assert status == 200, (path, status)
        loaded(stage)
    await runner.cleanup()

asyncio.run(main(sys.argv[1]))
"""


def test_every_lazy_route_names_a_view() -> None:
    """Routes name their views as text (so they load late): a typo must fail here."""
    for _method, path, target in ROUTES:
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name, None)), (path, target)


def _start_box(data: Path) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", STARTED_BOX.format(lazy=LAZY), str(data)],
        capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def _compiled_templates(data: Path) -> dict[str, int]:
    folder = data / "cache" / "templates"
    return {path.name: path.stat().st_ino for path in folder.iterdir()}


def test_a_restarted_box_loads_the_wiki_and_markdown_on_first_use(tmp_path: Path) -> None:
    """Start the app for real (database, mesh, admin socket, loopback HTTP), then ask
    for the home page and the wiki, and see what each step loaded.  The first start
    puts the lessons in the search index (and loads its code) and renders the home page;
    a restart with the same packs does neither, and that is the start a box makes every
    day."""
    _start_box(tmp_path / "data")
    compiled = _compiled_templates(tmp_path / "data")
    stages = _start_box(tmp_path / "data")
    assert stages["started"] == "[]", stages["started"]
    # the restart read the templates the first start compiled (a compiled one is written
    # to a new file, then renamed over the old: the inode would change)
    assert len(compiled) >= 3 and _compiled_templates(tmp_path / "data") == compiled
    # the home page is the one the first start rendered and stored: no Jinja2 at all
    assert stages["home"] == "[]", stages["home"]
    # the first wiki request builds the wiki service and imports its views, and Jinja2
    after_wiki = set(ast.literal_eval(stages["wiki"]))
    assert {"meshportal.wiki.service", "meshportal.web.wiki_views", "jinja2"} <= after_wiki
