"""On-demand benchmarks that print figures (never timed tests)."""
