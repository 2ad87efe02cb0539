"""Collective communication time over a chip group (ring algorithms, alpha-beta model).

A collective costs a fixed latency plus its bytes over the achieved share of the per-chip
link bandwidth. Groups that fit in the chip's scale-up domain use the scale-up links;
larger groups are limited by the scale-out network.
"""

from __future__ import annotations

from chipfolio.perfmodel.efficiency import Calibration
from chipfolio.perfmodel.hardware import ChipRates


def _bandwidth(rates: ChipRates, cal: Calibration, group: int, span: int | None) -> float:
    return rates.group_bytes_per_s(span or group) * cal.comm_efficiency


def all_reduce_s(
    nbytes: float, group: int, rates: ChipRates, cal: Calibration, span: int | None = None
) -> float:
    """Time of an all-reduce of ``nbytes`` (per chip) over ``group`` chips.

    ``span``: how many chips the group's members are spread over (its links are those of a
    group that size), when it is not the group itself.
    """
    if group <= 1 or nbytes <= 0:
        return 0.0
    moved = 2.0 * (group - 1) / group * nbytes
    return cal.collective_latency_us * 1e-6 + moved / _bandwidth(rates, cal, group, span)


def all_reduce_bandwidth_s(nbytes: float, group: int, rates: ChipRates, cal: Calibration) -> float:
    """The bandwidth part of an all-reduce alone (for work that overlaps a running step)."""
    if group <= 1 or nbytes <= 0:
        return 0.0
    return 2.0 * (group - 1) / group * nbytes / _bandwidth(rates, cal, group, None)


def gather_s(
    nbytes: float, group: int, rates: ChipRates, cal: Calibration, span: int | None = None
) -> float:
    """Time of an all-gather or reduce-scatter whose full result is ``nbytes``."""
    if group <= 1 or nbytes <= 0:
        return 0.0
    moved = (group - 1) / group * nbytes
    return cal.collective_latency_us * 1e-6 + moved / _bandwidth(rates, cal, group, span)


def send_s(nbytes: float, group: int, rates: ChipRates, cal: Calibration) -> float:
    """Point-to-point transfer of ``nbytes`` between neighbours in a group of ``group``."""
    if nbytes <= 0:
        return 0.0
    return cal.collective_latency_us * 1e-6 + nbytes / _bandwidth(rates, cal, group, None)
