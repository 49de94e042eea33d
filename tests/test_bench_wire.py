"""bench/wire.py end to end with a few frames: drive.py and the classic server as subprocesses, a
Unity-identical client, and the report section built from it. No timing is asserted."""
from __future__ import annotations

import math

import pytest

from bench import report, wire

pytestmark = pytest.mark.slow


def test_wire_bench_measures_drive_py_and_the_classic_path_and_reports_them(tmp_path):
    config = wire.WireConfig(models=("pilotnet",), frames=6, warmup=4, block=3, unmask_repeats=2,
                             variants={wire.DEFAULT: (), wire.EAGER: ("--backend", "torch")})
    results = wire.run(config)
    variants = results["models"]["pilotnet"]["variants"]
    assert set(variants) == {wire.DEFAULT, wire.EAGER, wire.LEGACY, wire.NAIVE}
    assert results["unmask"]["bytes"] > 10_000 and len(results["unmask"]["variants"]) == 2
    for name, v in variants.items():
        assert v["round_trip"]["n"] == 6, name
        assert math.isfinite(v["round_trip"]["median_ms"]) and v["round_trip"]["median_ms"] > 0
        assert v["unexpected_replies"] == 0, f"{name}: one reply per telemetry after the opening"
    assert variants[wire.EAGER]["max_abs_diff_vs_fp32"] == 0.0  # the reference against itself
    assert variants[wire.DEFAULT]["max_abs_diff_vs_fp32"] <= 0.01
    default = variants[wire.DEFAULT]
    backend, precision = default["runtime"].split(":")[0].split()  # drive.py's `runtime:` line
    assert "gate 0.01" in default["runtime"] and f"backend {backend}, {precision}" in default["model"]
    # drive.py's exit summary carries the pipeline's and the socket's stages
    assert {"decode", "preprocess", "infer", "total", "receive", "handoff", "reply", "server", "client"} <= set(
        default["server"])
    assert not variants[wire.NAIVE]["server"], "the classic server prints no summary"
    # without steering.drive.udacity.wire the server sees no socket times: only the hand-off is measured
    assert "receive" not in variants[wire.LEGACY]["server"] and "infer" in variants[wire.LEGACY]["server"]
    text = "\n".join(report.wire_section(results))
    assert "### pilotnet" in text and "- pilotnet p50 <= 1.5 ms: **" in text and "drive.py's choice" in text
