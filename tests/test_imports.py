"""Each package imports on its own in a fresh interpreter, and the layers stay apart.

import-linter checks the static imports in `make lint`; this checks what is
really loaded at run time, including imports hidden inside functions.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

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
        "         'sync.replica', 'sync.chain', 'sync.protocol', 'sync.ingest')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]", done.stdout
