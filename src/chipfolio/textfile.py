"""The one reader of input text files: size cap, directory, binary and UTF-8 checks, one line each.

Every file chipfolio reads as text (portfolios, procurement and assumptions YAML, catalog CSV
and YAML, trace CSV, plan and simulation JSON, gateway configuration) comes through
``read_text_file``, so a bad file is always refused the same way: an ``InputError`` naming
the file and saying what was expected, never a traceback.
"""

from __future__ import annotations

import stat
from pathlib import Path

from chipfolio.errors import InputError


def read_text_file(
    path: Path | str, *, limit: int, kind: str = "a text file", what: str = "file"
) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped), at most ``limit`` bytes.

    ``kind`` names what was expected in the directory message ("a portfolio YAML file");
    ``what`` names the file in the read-failure message ("cannot read plan JSON: ...").
    """
    file = str(path)
    try:
        status = Path(path).stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(path)
        size = status.st_size
        if size > limit:
            raise InputError(f"file is too large ({size} bytes; the limit is {limit})", file=file)
        data = Path(path).read_bytes()
    except IsADirectoryError as exc:
        raise InputError(f"is a directory, expected {kind}", file=file) from exc
    except FileNotFoundError as exc:
        raise InputError(
            f"cannot read {what}: not found (no such file or directory)", file=file
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", file=file) from exc
    if len(data) > limit:  # it grew between the two calls
        raise InputError(f"file is too large ({len(data)} bytes; the limit is {limit})", file=file)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        binary = "binary content, " if b"\x00" in data else ""
        raise InputError(f"not UTF-8 text ({binary}byte {exc.start})", file=file) from exc
    if "\x00" in text:
        raise InputError(f"not a text file (binary content), expected {kind}", file=file)
    return text
