"""The one input reader: every bad file is one InputError naming the file and the problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chipfolio.errors import InputError
from chipfolio.textfile import read_text_file


def test_reads_utf8_and_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes("\ufeffname: café\n".encode())
    assert read_text_file(path, limit=100) == "name: café\n"


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"x" * 101, ("too large", "101 bytes", "the limit is 100")),
        (b"\xff\xfeabc", ("not UTF-8", "byte 0")),
        (b"\xff\x00\x00", ("not UTF-8", "binary content")),
        (b"a: 1\x00\n", ("binary content", "expected a portfolio")),
    ],
)
def test_bad_content_is_refused(tmp_path: Path, content: bytes, needles: tuple[str, ...]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_text_file(path, limit=100, kind="a portfolio YAML file")
    assert info.value.location.file == str(path)
    for needle in needles:
        assert needle in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read plan JSON: not found") as info:
        read_text_file(tmp_path / "absent.json", limit=10, what="plan JSON")
    assert "no such file" in str(info.value)
    with pytest.raises(InputError, match="is a directory, expected a trace CSV file"):
        read_text_file(tmp_path, limit=10, kind="a trace CSV file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1")
    path.chmod(0)
    with pytest.raises(InputError, match="cannot read file: Permission denied"):
        read_text_file(path, limit=10)
