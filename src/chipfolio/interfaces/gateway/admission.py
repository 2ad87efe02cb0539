"""Who gets in: client keys with their workloads and rate limits, and the admin key.

:class:`Gatekeeper` decides and counts; the gateway writes the answer. A refusal is a
:class:`Refusal` in OpenAI's error vocabulary (401 ``invalid_api_key``, 403
``model_not_allowed``, 429 ``rate_limit_exceeded`` with ``Retry-After``), never naming a key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chipfolio.interfaces.gateway.access import Access, ClientKey
from chipfolio.routing import RateLimiter

_UNAUTHORIZED = (
    "missing or unknown API key: send 'Authorization: Bearer <key>' with a key this gateway knows"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answer: status, message, OpenAI error type and code, extra header lines."""

    status: int
    message: str
    kind: str = "invalid_request_error"
    code: str | None = None
    extra_headers: bytes = b""


class Gatekeeper:
    """Key checks, per-key rate limits and the counters ``/admin/state`` shows."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.limiter = RateLimiter()
        self.unauthorized = 0
        self.clients: dict[str, dict[str, int]] = {}
        # rate-limited requests admitted since the last report to the other workers (kept
        # only when there are other workers: ``share``)
        self.share = False
        self.admitted: dict[str, int] = {}

    def reloaded(self, access: Access) -> None:
        self.limiter.forget_except(access.names())

    def _count(self, client: ClientKey, outcome: str) -> None:
        counts = self.clients.get(client.name)
        if counts is None:
            counts = self.clients[client.name] = {}
        counts[outcome] = counts.get(outcome, 0) + 1

    def admit(self, access: Access, authorization: bytes | None) -> ClientKey | Refusal:
        """The client whose key the request carries, within its rate, or why not."""
        client = access.client(authorization)
        if client is None:
            self.unauthorized += 1
            return Refusal(401, _UNAUTHORIZED, code="invalid_api_key")
        rate = client.requests_per_s
        if rate is not None:
            wait = self.limiter.take(client.name, rate, self.clock())
            if wait > 0:
                self._count(client, "rate_limited")
                return Refusal(
                    429,
                    f"rate limit of {rate:g} requests/s for key '{client.name}' reached",
                    "rate_limit_error",
                    "rate_limit_exceeded",
                    b"retry-after: %d\r\n" % max(1, math.ceil(wait)),
                )
            if self.share:
                self.admitted[client.name] = self.admitted.get(client.name, 0) + 1
        self._count(client, "admitted")
        return client

    def forbid(self, client: ClientKey, model: str, allowed: str) -> Refusal:
        self._count(client, "forbidden")
        return Refusal(
            403,
            f"key '{client.name}' may not use model '{model}'; it may use: {allowed or '(none)'}",
            "permission_error",
            "model_not_allowed",
        )

    def models(
        self, access: Access, authorization: bytes | None, models: Mapping[str, str]
    ) -> list[str] | Refusal:
        """The model names a request may see (all of them without client keys)."""
        if access.keys is None:
            return sorted(models)
        client = access.client(authorization)
        if client is None:
            self.unauthorized += 1
            return Refusal(401, _UNAUTHORIZED, code="invalid_api_key")
        return sorted(m for m, w in models.items() if client.may_use(w))

    @staticmethod
    def admin(access: Access, authorization: bytes | None) -> Refusal | None:
        """None when the request carries the admin key."""
        if access.admin_sha256 is None:
            return Refusal(
                404,
                "the admin endpoints are off; start the gateway with --admin-key-file",
                code="admin_off",
            )
        if not access.admin(authorization):
            return Refusal(
                401,
                "the admin endpoints need 'Authorization: Bearer <admin key>'",
                code="invalid_api_key",
            )
        return None

    def charge(self, access: Access, admitted: Mapping[str, Any]) -> None:
        """Requests other workers admitted for rate-limited keys, charged to this worker's
        buckets so a key's rate holds across workers."""
        if access.keys is None:
            return
        limits = {k.name: k.requests_per_s for k in access.keys.values() if k.requests_per_s}
        now = self.clock()
        for name, n in admitted.items():
            rate = limits.get(name)
            if rate is not None and isinstance(n, int):
                self.limiter.charge(name, n, rate, now)

    def take_admitted(self) -> dict[str, int]:
        out, self.admitted = self.admitted, {}
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "unauthorized": self.unauthorized,
            "clients": {n: dict(sorted(c.items())) for n, c in sorted(self.clients.items())},
        }
