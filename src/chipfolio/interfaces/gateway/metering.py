"""Tokens per pool from the answers: ``usage`` of a JSON body, or of a stream's last event.

The answers are read, never changed: a stream carries usage only when its client asked for
``stream_options.include_usage``; answers without usage are counted as unmetered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from chipfolio.routing import TokenMeter

MAX_TOKENS = 1 << 40  # more than any answer can hold: a bigger figure is not believed


class UsageMeters:
    """One :class:`TokenMeter` per pool, kept across reloads by pool name."""

    def __init__(self) -> None:
        self.meters: dict[str, TokenMeter] = {}

    def keep(self, names: Iterable[str], now: float) -> None:
        self.meters = {n: self.meters.get(n) or TokenMeter(now) for n in names}

    def count(self, name: str, usage: object, now: float) -> None:
        meter = self.meters.get(name)
        if meter is None:  # the pool left with a reload while the answer was in flight
            return
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if (
                isinstance(prompt, int)
                and isinstance(completion, int)
                and 0 <= prompt < MAX_TOKENS
                and 0 <= completion < MAX_TOKENS
            ):
                meter.add(now, prompt, completion)
                return
        meter.add_unmetered()

    def from_body(self, name: str, body: bytes, now: float) -> None:
        usage = None
        if b'"usage"' in body:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                usage = doc.get("usage")
        self.count(name, usage, now)

    def from_stream_tail(self, name: str, tail: bytes, now: float) -> None:
        """The usage in the last SSE event of ``tail`` that carries one."""
        usage = None
        if b'"usage"' in tail:
            for event in reversed(tail.replace(b"\r\n", b"\n").split(b"\n\n")):
                if b'"usage"' not in event:
                    continue
                data = b"".join(
                    line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
                )
                try:
                    doc = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(doc, dict) and isinstance(doc.get("usage"), dict):
                    usage = doc["usage"]
                    break
        self.count(name, usage, now)

    def row(self, name: str, now: float) -> dict[str, Any] | None:
        m = self.meters.get(name)
        if m is None:
            return None
        return {
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "metered_answers": m.metered,
            "unmetered_answers": m.unmetered,
            "completion_tokens_per_s": round(m.tokens_per_s(now), 3),
            "recent_completion_tokens_per_s": round(m.recent_tokens_per_s(now), 3),
        }
