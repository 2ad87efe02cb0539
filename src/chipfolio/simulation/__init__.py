"""Simulation: Monte Carlo of futures with events, re-planning as they land."""
