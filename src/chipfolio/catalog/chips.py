"""The chip registry: every accelerator's specifications and the names it goes by.

The registry is read from ``data/chips.csv`` (shipped with the package, derived from
``shared/data/accelerators.csv`` by ``scripts/build_catalog.py``; every row names its source).
Names resolve case-insensitively through canonical ids, aliases (including SkyPilot's
accelerator names such as ``H100`` or ``A100-80GB``) and TPU slice names (``tpu-v6e-8`` is a
slice of ``tpu-v6e``). Unknown names raise :class:`UnknownNameError` with suggestions.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from chipfolio.domain import Chip, SiliconVendor, SoftwareStack
from chipfolio.errors import CatalogError, UnknownNameError

CHIPS_RESOURCE = "chips.csv"

# A TPU slice name: generation plus a size suffix (tpu-v6e-8, tpu-v5p-12288, tpu-v5litepod-16).
_TPU_SLICE = re.compile(r"^(?P<family>tpu-?v?\d+[a-z]*(?:-lite-podslice|litepod)?)-(?P<n>\d+)$")

# TensorCores per chip for the TPU generations whose slice names count cores, not chips
# (Google Cloud docs: v4 and v5p have two TensorCores per chip; so has TPU7x). For v5e/v6e the
# suffix is the chip count.
_TPU_CORES_PER_CHIP: Mapping[str, int] = {"tpu-v4": 2, "tpu-v5p": 2, "tpu7x": 2}


def normalize_name(name: str) -> str:
    """The lookup key of a name: lower case, spaces and underscores as dashes."""
    return re.sub(r"[\s_]+", "-", name.strip().lower())


@dataclass(frozen=True, slots=True)
class TpuSlice:
    """A TPU slice name split into its chip and its size."""

    chip_id: str
    suffix: int
    chips: int


class ChipRegistry:
    """Chips by canonical id, with alias and slice-name resolution."""

    def __init__(self, chips: Iterable[Chip]) -> None:
        self._chips: dict[str, Chip] = {}
        self._names: dict[str, str] = {}
        for chip in chips:
            if chip.id in self._chips:
                raise CatalogError(f"chip registry: duplicate id '{chip.id}'")
            self._chips[chip.id] = chip
            for name in (chip.id, chip.name, *chip.aliases):
                key = normalize_name(name)
                owner = self._names.setdefault(key, chip.id)
                if owner != chip.id:
                    raise CatalogError(
                        f"chip registry: name '{name}' used by {owner} and {chip.id}"
                    )

    def all(self) -> tuple[Chip, ...]:
        """Every chip, in registry order (vendor by vendor, as in the source table)."""
        return tuple(self._chips.values())

    def ids(self) -> tuple[str, ...]:
        return tuple(self._chips)

    def known_names(self) -> tuple[str, ...]:
        """Every canonical id and alias, without case-insensitive repeats (for suggestions)."""
        names: dict[str, str] = {}
        for chip in self._chips.values():
            for name in (chip.id, *chip.aliases):
                names.setdefault(name.lower(), name)
        return tuple(names.values())

    def find(self, name: str) -> Chip | None:
        """The chip ``name`` refers to, or None."""
        key = normalize_name(name)
        chip_id = self._names.get(key)
        if chip_id is None:
            tpu = self.tpu_slice(name)
            chip_id = tpu.chip_id if tpu else None
        return self._chips.get(chip_id) if chip_id else None

    def get(self, name: str) -> Chip:
        """The chip ``name`` refers to; raises UnknownNameError with suggestions."""
        chip = self.find(name)
        if chip is None:
            raise UnknownNameError("chip", name, self.known_names())
        return chip

    def resolve(self, name: str) -> str:
        """The canonical id of ``name``; raises UnknownNameError with suggestions."""
        return self.get(name).id

    def tpu_slice(self, name: str) -> TpuSlice | None:
        """Split a TPU slice name (``tpu-v6e-8``) into chip and chip count, if it is one."""
        match = _TPU_SLICE.match(normalize_name(name))
        if match is None:
            return None
        chip_id = self._names.get(match["family"])
        if chip_id is None:
            return None
        suffix = int(match["n"])
        cores = _TPU_CORES_PER_CHIP.get(chip_id, 1)
        if suffix < cores or suffix % cores:
            return None
        return TpuSlice(chip_id=chip_id, suffix=suffix, chips=suffix // cores)

    def by_vendor(self, vendor: SiliconVendor | str) -> tuple[Chip, ...]:
        wanted = SiliconVendor(vendor)
        return tuple(c for c in self._chips.values() if c.vendor is wanted)

    def __len__(self) -> int:
        return len(self._chips)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None


def chip_record(chip: Chip) -> dict[str, object]:
    """A chip as a plain JSON-ready mapping (the stable contract of ``chipfolio chips``)."""
    return {
        "id": chip.id,
        "name": chip.name,
        "vendor": str(chip.vendor),
        "year": chip.year,
        "bf16_tflops": chip.bf16_tflops,
        "fp8_tflops": chip.fp8_tflops,
        "fp4_tflops": chip.fp4_tflops,
        "int8_tflops": chip.int8_tflops,
        "hbm_gib": chip.hbm_gib,
        "hbm_tbps": chip.hbm_tbps,
        "scaleup_domain": chip.scaleup_domain,
        "scaleup_gbps": chip.scaleup_gbps,
        "chips_per_node": chip.chips_per_node,
        "stack": str(chip.stack),
        "tdp_w": chip.tdp_w,
        "aliases": list(chip.aliases),
        "provenance": chip.provenance,
        "source": chip.source,
        "notes": chip.notes,
    }


def _opt_float(row: Mapping[str, str], key: str) -> float | None:
    text = row[key].strip()
    return float(text) if text else None


def _chip_from_row(row: Mapping[str, str]) -> Chip:
    return Chip(
        id=row["id"],
        name=row["name"],
        vendor=SiliconVendor(row["vendor"]),
        year=int(row["year"]),
        bf16_tflops=_opt_float(row, "bf16_tflops"),
        fp8_tflops=_opt_float(row, "fp8_tflops"),
        fp4_tflops=_opt_float(row, "fp4_tflops"),
        int8_tflops=_opt_float(row, "int8_tflops"),
        hbm_gib=float(row["hbm_gib"]),
        hbm_tbps=float(row["hbm_tbps"]),
        scaleup_domain=int(row["scaleup_domain"]),
        scaleup_gbps=_opt_float(row, "scaleup_gbps"),
        chips_per_node=int(row["chips_per_node"]),
        stack=SoftwareStack(row["stack"]),
        tdp_w=_opt_float(row, "tdp_w"),
        provenance=row["provenance"],
        source=row["source"],
        aliases=tuple(a for a in row["aliases"].split("|") if a),
        notes=row["notes"],
    )


def parse_chips_csv(text: str) -> ChipRegistry:
    """A registry from the text of a chips CSV in the shipped layout."""
    try:
        chips = [_chip_from_row(row) for row in csv.DictReader(io.StringIO(text))]
    except (KeyError, ValueError) as exc:
        raise CatalogError(f"chip registry data is damaged: {exc}") from exc
    return ChipRegistry(chips)


@functools.cache
def registry() -> ChipRegistry:
    """The shipped chip registry (read once per process)."""
    text = resources.files("chipfolio.catalog.data").joinpath(CHIPS_RESOURCE).read_text("utf-8")
    return parse_chips_csv(text)
