"""Run inside the visitor's namespace: Debian's Chromium opens a foreign http URL."""

from __future__ import annotations

import json
import sys

from playwright.sync_api import sync_playwright

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


def main() -> None:
    url, screenshot = sys.argv[1], sys.argv[2]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(url, timeout=30_000)
        page.screenshot(path=screenshot, full_page=True)
        print(
            json.dumps(
                {
                    "url": page.url,
                    "title": page.title(),
                    "has_enter": page.locator("button[type=submit]").count() == 1,
                    "lessons": page.locator("a[href^='/lecons/']").count(),
                }
            )
        )
        browser.close()


if __name__ == "__main__":
    main()
