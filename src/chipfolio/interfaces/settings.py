"""Runtime settings read from the environment (only the interfaces layer reads them)."""

from __future__ import annotations

import os
from pathlib import Path


def chipfolio_home() -> Path:
    """Where user state lives (catalog snapshots, ...): $CHIPFOLIO_HOME or ~/.chipfolio."""
    env = os.environ.get("CHIPFOLIO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".chipfolio"
