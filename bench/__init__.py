"""Benchmarks of `steering`: driving latency, the wire, training and data throughput, machine limits,
the simulator, the monitor's cost.

    python -m bench              # every benchmark, one line each
    python -m bench all          # run them all (`make bench`): rewrites docs/benchmarks.md and its chart
    python -m bench NAME --quick # one of them with its smallest settings

Each benchmark is one module that owns its measurement (`run(config)` -> a result dataclass), its
section of docs/benchmarks.md or of its own doc, and its findings; it ends with `BENCHMARK =
Benchmark(...)` (bench/benchmark.py), and `bench.registry.BENCHMARKS` lists them in run order.
Shared by all: `timing` (interleaved measurement), `inputs` (checkpoints, real frames), `machine`
(the CPU header every figure carries), `markdown`; `page` writes docs/benchmarks.md. The classic
drive.py path and drive.py without its socket fixes, which they measure against, are in
`bench.baselines`. Benchmarks never assert timings; tests/test_bench_smoke.py runs each one with
its smallest settings.
"""
