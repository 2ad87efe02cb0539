"""Screenshot an HTML page in Debian's chromium (Playwright, no browser download).

    .venv/bin/python scripts/screenshot.py report.html docs/images/report.png [--width 1400]

Used to refresh the pictures in docs/: waits until every Plotly chart on the page has drawn,
fails on console errors, and writes a full-page PNG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from chipfolio.interfaces.browser import CHROMIUM_ARGS, chromium_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path()), args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(args.html.resolve().as_uri())
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot')].every("
            "el => el.querySelector('.main-svg'))"
        )
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.png), full_page=True)
        browser.close()
    if errors:
        print("console errors:", *errors, sep="\n  ", file=sys.stderr)
        return 1
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
