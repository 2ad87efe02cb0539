"""Shipped catalog data: the chip registry CSV and the bundled offer snapshots."""
