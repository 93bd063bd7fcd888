"""Benchmark scripts; results go to BENCHMARKS.md with the command that produced them."""
