"""Offer sources: one importer per price source."""
