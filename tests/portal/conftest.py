"""Browser fixtures: Debian's Chromium driven by Playwright against a real daemon on loopback.

Never a downloaded browser: Playwright launches /usr/bin/chromium.  The tests are skipped,
with that reason, only when Debian's Chromium is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Daemon, start_daemon

CHROMIUM = Path("/usr/bin/chromium")
# The flags the captive end-to-end test uses: no background traffic leaves the box.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts" / "portal"
# One exact axe-core release, so a new rule upstream never changes our verdict silently.
AXE_VERSION = "4.10.3"
WIDTHS = (360, 1280)
LOCALES = {"fr": "fr-FR", "en": "en-GB"}

if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and pytest-asyncio's tests in later modules could not start theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Daemon]:
    """A fresh daemon per test, with its default settings (captive on, edit rate limit on)."""
    running = start_daemon(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()
        if running.process.stdout:
            running.process.stdout.close()


def new_context(browser: Browser, lang: str, **options: object) -> BrowserContext:
    """A visitor whose browser asks for `lang` through Accept-Language, as a phone does."""
    return browser.new_context(
        locale=LOCALES[lang],
        viewport={"width": WIDTHS[0], "height": 740},
        **options,  # type: ignore[arg-type]
    )


def shoot(page: Page, name: str) -> None:
    """Full-page screenshots of the current step at a phone's width and a desktop's."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size or {"width": WIDTHS[0], "height": 740}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 740 if width < 1000 else 900})
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, f"empty screenshot {path}"
    page.set_viewport_size(before)


def _cache_dir() -> Path:
    for candidate in (
        os.environ.get("MESHPORTAL_CACHE", ""),
        "/var/cache/meshportal",
    ):
        if not candidate:
            continue
        folder = Path(candidate) / "npm"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return Path(tempfile.gettempdir()) / "meshportal-npm"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js, fetched from the npm registry at test time, never committed.

    `npm pack` downloads the release tarball (npm checks its integrity against the registry)
    into a cache folder; later runs reuse the tarball.
    """
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"axe-core-{AXE_VERSION}.tgz"
    if not tarball.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to fetch axe-core at test time (apt-get install npm)"
        done = subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=cache,
        )
        assert done.returncode == 0 and tarball.exists(), f"npm pack failed: {done.stderr}"
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        source = member.read().decode()
    assert "axe.run" in source or "runPartial" in source
    return source
