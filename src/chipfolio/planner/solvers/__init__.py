"""Solver adapters: the only modules that import a solver library."""
