"""How chipfolio starts Debian's chromium headless (screenshots of docs, browser tests).

Playwright drives the system browser at ``CHROMIUM``; it never downloads one. The flags keep
chromium from reaching out to the network at start-up (this project's machines have none)
and let it run as root in containers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_path() -> Path | None:
    """Debian's chromium, or whichever ``chromium`` is on PATH; None when there is none."""
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None
