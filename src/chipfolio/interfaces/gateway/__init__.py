"""``chipfolio gateway``: an OpenAI-compatible proxy that routes by plan weights.

:class:`Gateway` (``proxy``) serves the HTTP API on the lean asyncio/httptools stack of
``http11``; ``config`` validates POOLS.yaml against the plan; ``fake_upstream`` is a fake
OpenAI server with injectable faults for tests and benchmarks. The routing policy itself
(weights, selection, breakers, retry budget) is the pure ``chipfolio.routing`` package.
"""

from __future__ import annotations
