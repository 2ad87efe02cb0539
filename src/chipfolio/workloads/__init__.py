"""Workloads: model architectures and the portfolio input files that name them."""
