"""Benchmarks of `steering`: driving latency, training and data throughput, machine limits, simulator.

`python -m bench.run_all` (or `make bench`) runs them all and rewrites docs/benchmarks.md and
docs/benchmarks.png. Each topic module has a `run(...) -> dict` that returns plain numbers, so
tests/test_bench_smoke.py can run it with tiny repetition counts. Benchmarks never assert timings.
"""
