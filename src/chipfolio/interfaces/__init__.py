"""Interfaces: where configuration, I/O and frameworks meet the core."""
