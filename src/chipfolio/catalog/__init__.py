"""Catalog: the chip registry and priced offers, read from versioned snapshots."""
