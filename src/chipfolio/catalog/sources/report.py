"""The import report: every skipped or flagged source row, counted by reason, with examples.

Importers never drop a row silently: each row either becomes offers or is counted under a
reason (``Skip``), and offers kept despite a doubt carry a flag (``Flag``) that is counted too.
A few example locations (file, line, field) are kept per reason so a user can look.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

EXAMPLES_PER_REASON = 3


class Skip(StrEnum):
    """Why a source row (or one of its prices) produced no offer."""

    MALFORMED = "malformed row"
    INVALID_PRICE = "invalid price (not a positive finite number below the plausibility cap)"
    NO_ACCELERATOR = "no accelerator (CPU-only row)"
    UNMAPPED_SIZE = "accelerator instance type with no accelerator name, not in the part table"
    UNKNOWN_CHIP = "accelerator not in the chip registry"
    VARIANT = "chip variant not in the registry"
    AMBIGUOUS = "accelerator name covers several parts and the instance type does not say which"
    NO_PRICE = "empty on-demand price (reservation-only or unpriced)"
    SENTINEL = "700.0 sentinel price (no price known)"
    SPOT_PLACEHOLDER = "spot price is a placeholder (equals on-demand)"
    GCP_HOST_ONLY = "GCP host-VM row without its accelerator price row"
    GCP_ACCELERATOR_ONLY = "GCP accelerator row without a host VM row to price it with"
    DUPLICATE = "duplicate row"
    SAME_OFFER = "same offer already imported from an earlier source"
    SUPERSEDED = "superseded price"
    UNVERIFIED = "unverified price"
    NO_REGION = "region not stated"


class Flag(StrEnum):
    """A doubt about an offer that was kept."""

    SPOT_FAR_BELOW_ON_DEMAND = "spot_far_below_on_demand"
    SPOT_ABOVE_ON_DEMAND = "spot_above_on_demand"
    SPOT_WITHOUT_ON_DEMAND = "spot_without_on_demand"
    INFERRED_ACCELERATOR = "accelerator_inferred_from_instance_type"
    GCP_HOST_PLUS_ACCELERATOR = "gcp_host_plus_accelerator"
    REPORTED = "reported"
    VENDOR_MIRROR = "vendor_mirror"
    CAPACITY_BLOCK = "capacity_block"
    REGION_ASSUMED = "region_assumed"
    REGION_APPROXIMATE = "region_approximate"


@dataclass(frozen=True, slots=True)
class RowNote:
    """One example of a skipped or flagged row."""

    file: str
    line: int
    reason: str
    field: str | None = None
    detail: str = ""

    def render(self) -> str:
        where = f"{self.file}:{self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class SourceReport:
    """What one source file gave: rows read, offers made, skips and flags by reason."""

    file: str
    kind: str
    rows: int
    offers: int
    skipped: tuple[tuple[str, int], ...] = ()
    flagged: tuple[tuple[str, int], ...] = ()
    examples: tuple[RowNote, ...] = ()
    # per chip (registry id, or the source's accelerator name when no chip matched): offers
    # made and rows skipped by reason, e.g. ("h100-nvl", (("offers", 52), ("empty ...", 3)))
    by_chip: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()

    def with_skipped(self, reason: str, count: int) -> SourceReport:
        """This report with ``count`` more offers left out for ``reason``."""
        totals = dict(self.skipped)
        totals[reason] = totals.get(reason, 0) + count
        return SourceReport(
            file=self.file,
            kind=self.kind,
            rows=self.rows,
            offers=self.offers - count,
            skipped=tuple(sorted(totals.items())),
            flagged=self.flagged,
            examples=self.examples,
            by_chip=self.by_chip,
        )

    def chips(self) -> dict[str, dict[str, int]]:
        """Offers and skipped rows by reason, per chip (see ``by_chip``)."""
        return {chip: dict(counts) for chip, counts in self.by_chip}

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "offers": self.offers,
            "skipped": dict(self.skipped),
            "flagged": dict(self.flagged),
            "examples": [dataclasses.asdict(n) for n in self.examples],
            "by_chip": self.chips(),
        }


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The reports of every source that went into one snapshot."""

    sources: tuple[SourceReport, ...] = ()

    @property
    def offers(self) -> int:
        return sum(s.offers for s in self.sources)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sources)

    def skipped(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for source in self.sources:
            total.update(dict(source.skipped))
        return dict(sorted(total.items()))

    def flagged(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for source in self.sources:
            total.update(dict(source.flagged))
        return dict(sorted(total.items()))

    def merged(self, other: ImportReport) -> ImportReport:
        return ImportReport(self.sources + other.sources)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "offers": self.offers,
            "skipped": self.skipped(),
            "flagged": self.flagged(),
            "sources": [s.to_dict() for s in self.sources],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ImportReport:
        """Rebuild a report stored in snapshot metadata."""
        sources = []
        raw_sources = data.get("sources", [])
        assert isinstance(raw_sources, list)
        for raw in raw_sources:
            skipped = raw.get("skipped", {})
            flagged = raw.get("flagged", {})
            sources.append(
                SourceReport(
                    file=str(raw["file"]),
                    kind=str(raw["kind"]),
                    rows=int(raw["rows"]),
                    offers=int(raw["offers"]),
                    skipped=tuple((str(k), int(v)) for k, v in skipped.items()),
                    flagged=tuple((str(k), int(v)) for k, v in flagged.items()),
                    examples=tuple(
                        RowNote(**e) for e in raw.get("examples", []) if isinstance(e, dict)
                    ),
                    by_chip=tuple(
                        (str(chip), tuple((str(k), int(v)) for k, v in counts.items()))
                        for chip, counts in raw.get("by_chip", {}).items()
                    ),
                )
            )
        return cls(tuple(sources))


@dataclass
class ReportBuilder:
    """Collects counts and examples while one file is imported (mutable, import-local)."""

    file: str
    kind: str
    rows: int = 0
    offers: int = 0
    _skipped: Counter[str] = field(default_factory=Counter)
    _flagged: Counter[str] = field(default_factory=Counter)
    _examples: list[RowNote] = field(default_factory=list)
    _by_chip: dict[str, Counter[str]] = field(default_factory=dict)

    def _example(self, note: RowNote, count: int) -> None:
        if count <= EXAMPLES_PER_REASON:
            self._examples.append(note)

    def skip(
        self,
        line: int,
        reason: Skip,
        *,
        field: str | None = None,
        detail: str = "",
        chip: str | None = None,
    ) -> None:
        """Count a skipped row (or price); ``chip`` also counts it under that chip."""
        key = f"{reason}: {detail}" if reason is Skip.UNKNOWN_CHIP and detail else str(reason)
        self._skipped[key] += 1
        self._example(RowNote(self.file, line, str(reason), field, detail), self._skipped[key])
        if chip:
            self._by_chip.setdefault(chip, Counter())[str(reason)] += 1

    def offered(self, chip: str, count: int = 1) -> None:
        """Count offers made of ``chip``."""
        self._by_chip.setdefault(chip, Counter())["offers"] += count

    def flag(self, line: int, flag: Flag, *, detail: str = "") -> None:
        self._flagged[str(flag)] += 1
        self._example(RowNote(self.file, line, str(flag), None, detail), self._flagged[str(flag)])

    def build(self) -> SourceReport:
        return SourceReport(
            file=self.file,
            kind=self.kind,
            rows=self.rows,
            offers=self.offers,
            skipped=tuple(sorted(self._skipped.items())),
            flagged=tuple(sorted(self._flagged.items())),
            examples=tuple(self._examples),
            by_chip=tuple(
                (chip, tuple(sorted(counts.items())))
                for chip, counts in sorted(self._by_chip.items())
            ),
        )
