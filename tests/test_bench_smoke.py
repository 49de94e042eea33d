"""Each benchmark runs end to end with minimal repetitions and returns positive numbers in the
structure the report reads. No timing is asserted: benchmarks are not tests."""
from __future__ import annotations

import math

import pytest

from bench import data_pipeline, latency, limits, report, simulator, training
from bench.findings import findings


def _positive(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def results() -> dict:
    """One tiny run of every section (shared: the report test reads them all)."""
    out = {"machine": report.machine()}
    out["limits"] = limits.run(
        limits.LimitsConfig(models=("pilotnet",), matmul_size=64, matmul_repeats=2, model_repeats=2)
    )
    out["latency"] = latency.run(
        latency.LatencyConfig(
            models=("pilotnet",),
            repeats=2,
            block=1,
            frames=2,
            openvino=False,
            variants=(latency.NAIVE, latency.DEFAULT),
        )
    )
    out["training"] = training.run(training.TrainingConfig(model="pilotnet", images=8, batch_size=4, rounds=1,
                                                           cached_epochs=1, precisions=("fp32",)))
    out["data"] = data_pipeline.run(data_pipeline.DataConfig(images=8, batch_size=4, workers=(0,), passes=1,
                                                             consumers=("pilotnet",), consumer_seconds=0.05),
                                    model_rates={"given rate": 10.0})
    out["simulator"] = simulator.run(simulator.SimulatorConfig(render_repeats=2, loop_steps=3,
                                                               loops=(("pilotnet", "torch", "auto"),)))
    out["wall_s"], out["loadavg_end"] = 1.0, 0.0
    return out


def test_latency_times_every_stage_of_the_naive_and_default_pipelines(results):
    variants = results["latency"]["models"]["pilotnet"]["variants"]
    assert set(variants) == {latency.NAIVE, latency.DEFAULT, latency.EAGER}
    default = variants[latency.DEFAULT]
    for stage in ("total", "decode", "preprocess", "infer", "reply"):
        assert default[stage]["n"] == 2, stage
        assert _positive(default[stage]["median_ms"]), stage
    assert default["total"]["p99_ms"] >= default["total"]["median_ms"]
    assert variants[latency.EAGER]["max_abs_diff_vs_fp32"] == 0.0  # the reference compared with itself
    assert default["max_abs_diff_vs_fp32"] < 0.02  # drive.py's runtime may round (bf16), never steer differently
    assert _positive(variants[latency.NAIVE]["total"]["median_ms"])


def test_limits_count_pilotnet_flops_and_matmul_rates(results):
    lim = results["limits"]
    assert _positive(lim["matmul"]["fp32"]["gflops"]) and _positive(lim["matmul"]["bf16"]["gflops"])
    # PilotNet at 66x200: about 27 MMAC -> 0.054 GFLOP (conv layers dominate).
    assert 0.04 < lim["models"]["pilotnet"]["gflop"] < 0.07
    assert _positive(lim["models"]["pilotnet"]["runtimes"]["eager fp32"]["gflops"])


def test_training_reports_cache_speedup_and_build_cost(results):
    tr = results["training"]
    assert {"frozen, features recomputed (fp32)", "full fine-tune (fp32)",
            "frozen, feature cache (fp32, after build)"} == set(tr["variants"])
    assert all(_positive(v["images_per_s"]) for v in tr["variants"].values())
    assert tr["images"] == 8
    assert _positive(tr["cache"]["build_s"]) and _positive(tr["cache"]["speedup_per_epoch"])


def test_data_pipeline_compares_loader_with_consumers(results):
    data = results["data"]
    assert set(data["loaders"]) == {"augmented, 0 workers", "decode only, 0 workers"}
    for v in data["loaders"].values():
        assert _positive(v["images_per_s"])
        assert v["batch_shape"] == [4, 3, 66, 200]
    assert data["consumers"]["given rate"] == 10.0
    assert _positive(data["consumers"]["pilotnet full fine-tune (fp32, model only)"])


def test_simulator_renders_every_camera_and_drives_through_the_socket(results):
    sim = results["simulator"]
    assert {"center", "left", "right"} <= set(sim["render"]["per_camera"])
    loop = sim["loops"][0]
    assert loop["steps"] == 3
    assert _positive(loop["frames_per_s"])
    # the server records a frame after its reply is sent: the last one may land after the client left
    assert loop["server_latency_ms"]["total"]["n"] >= 1


def test_report_writes_every_section_and_the_chart(results, tmp_path):
    md, png = tmp_path / "benchmarks.md", tmp_path / "benchmarks.png"
    report.write(results, md, png, "make bench", findings(results))
    text = md.read_text()
    for heading in ("## Machine", "## 1. Driving latency", "## 2. Closed loop", "## 3. Machine limits",
                    "## 4. Training throughput", "## 5. Data pipeline", "## 6. Simulator render rate"):
        assert heading in text, heading
    assert "`make bench`" in text
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
