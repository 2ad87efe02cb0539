"""Planner: from a portfolio problem to a least-cost plan (build model, solve, decode)."""
