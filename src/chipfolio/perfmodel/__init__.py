"""Performance model: how fast a workload runs on a given number of chips."""
