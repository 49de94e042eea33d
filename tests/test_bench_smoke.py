"""Every registered benchmark runs end to end with its smallest settings, returns its typed result, and
its section and findings are written from that result's real values. No timing is asserted:
benchmarks are not tests. A new benchmark is covered by the parametrized test as soon as it is
registered; what it measures in particular goes into CHECKS."""
from __future__ import annotations

import importlib.util
import json
import logging
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import data_pipeline, latency, page, registry, soak, training, wire
from bench.benchmark import from_jsonable, to_jsonable
from bench.registry import BENCHMARKS

# Benchmarks whose smallest run still takes long on 2 cores, each with the reason.
SLOW = {
    "wire": "four drive.py processes (eager, default, legacy, classic) started and driven",
    "soak": "300 frames through drive.py with two reconnects",
    "monitor": "two drive.py processes and a page poller",
    "alarm_wire": "fits a monitor, then three drive.py processes driven",
    "tracks": "builds the renderer of every built-in track",
    "training_speed": "loader epochs with one and two worker processes",
}
REPO = Path(__file__).resolve().parents[1]
_RESULTS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _restore_log_levels():
    """bench's command line quiets the project's loggers for its own run; later tests must not inherit that."""
    names = ("steering", "PIL", "matplotlib")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def quick_result(name: str) -> Any:
    """The benchmark's result with its smallest settings, measured once per test session."""
    if name not in _RESULTS:
        entry = BENCHMARKS[name]
        _RESULTS[name] = entry.run(entry.quick())
    return _RESULTS[name]


def _positive(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


# ---------------------------------------------------------------- what each benchmark measures

def check_limits(lim, text: str) -> None:
    assert _positive(lim.matmul["fp32"].gflops) and _positive(lim.matmul["bf16"].gflops)
    # PilotNet at 66x200: about 27 MMAC -> 0.054 GFLOP (conv layers dominate).
    assert 0.04 < lim.models["pilotnet"].gflop < 0.07
    eager = lim.models["pilotnet"].runtimes["eager fp32"]
    assert _positive(eager.gflops) and eager.time.n >= 2
    assert eager.gflops == pytest.approx(lim.models["pilotnet"].gflop / (eager.time.median_ms / 1000.0))
    assert f"fp32 **{lim.matmul['fp32'].gflops:,.1f} GFLOP/s**" in text
    assert f"| pilotnet | {lim.models['pilotnet'].gflop:,.3f} | eager fp32 | {eager.time.median_ms:,.2f} |" in text
    if not lim.int8_matmul:  # measured where openvino is installed (make install: always)
        assert importlib.util.find_spec("openvino") is None
        return
    peak8 = lim.int8_matmul["int8"].gflops
    assert _positive(peak8) and f"int8 (u8 x s8) **{peak8:,.1f} GOP/s**" in text
    assert lim.int8_frames == 8 and set(lim.cpu_int8_units) <= {"avx512_vnni", "avx_vnni", "amx_int8"}
    int8 = lim.models["pilotnet"].int8
    assert set(int8) == {"openvino fp32", "openvino-nncf int8", "onnx int8", "openvino int8"}
    nncf = int8["openvino-nncf int8"]
    if nncf.error:  # nncf is the only part of the openvino extra that may be missing
        assert nncf.error == "not installed" and importlib.util.find_spec("nncf") is None
        return
    assert 0.0 < nncf.max_abs_diff <= 0.01, "NNCF's int8 steers a little differently, within the gate"
    assert int8["openvino fp32"].max_abs_diff < 1e-5
    share = f"{100 * nncf.gflops / peak8:.0f}%"
    assert f"| pilotnet | openvino-nncf int8 | {nncf.time.median_ms:,.2f} |" in text and share in text


def check_wire(w, text: str) -> None:
    variants = w.models["pilotnet"].variants
    assert set(variants) == {wire.DEFAULT, wire.EAGER, wire.LEGACY, wire.NAIVE}
    assert w.unmask.bytes > 10_000 and len(w.unmask.variants) == 2
    for name, v in variants.items():
        assert v.round_trip.n == 6, name
        assert _positive(v.round_trip.median_ms), name
        assert v.unexpected_replies == 0, f"{name}: one reply per telemetry after the opening"
    assert variants[wire.EAGER].max_abs_diff_vs_fp32 == 0.0  # the reference against itself
    assert variants[wire.DEFAULT].max_abs_diff_vs_fp32 <= 0.01
    default = variants[wire.DEFAULT]
    backend, precision = default.runtime.split(":")[0].split()  # drive.py's `runtime:` line
    assert "gate 0.01" in default.runtime and f"backend {backend}, {precision}" in default.model
    # drive.py's exit summary carries the pipeline's and the socket's stages
    assert {"decode", "preprocess", "infer", "total", "receive", "handoff", "reply", "server", "client"} <= set(
        default.server)
    assert not variants[wire.NAIVE].server, "the classic server prints no summary"
    # without steering.drive.udacity.wire the server sees no socket times: only the hand-off is measured
    assert "receive" not in variants[wire.LEGACY].server and "infer" in variants[wire.LEGACY].server
    assert "### pilotnet" in text and "- pilotnet p50 <= 1.5 ms: **" in text and "drive.py's choice" in text
    assert f"| {wire.DEFAULT} | {backend} {precision} | {default.round_trip.median_ms:,.2f} |" in text


def check_latency(lat, text: str) -> None:
    variants = lat.models["pilotnet"].variants
    assert set(variants) == {latency.NAIVE, latency.DEFAULT, latency.EAGER}
    default = variants[latency.DEFAULT]
    for stage in ("total", "decode", "preprocess", "infer", "reply"):
        assert getattr(default, stage).n == 2, stage
        assert _positive(getattr(default, stage).median_ms), stage
    assert default.total.p99_ms >= default.total.median_ms
    assert variants[latency.EAGER].max_abs_diff_vs_fp32 == 0.0  # the reference compared with itself
    assert default.max_abs_diff_vs_fp32 < 0.02  # drive.py's runtime may round (bf16), never steer differently
    naive = variants[latency.NAIVE]
    assert _positive(naive.total.median_ms) and naive.decode is None, "the classic path has no separable stages"
    backend, precision = default.note.split(", ")  # what drive.py's default picked by itself
    assert backend in ("torch", "torchscript", "onnx", "openvino") and precision
    row = (f"| {latency.DEFAULT} ({default.note}) | {default.total.median_ms:,.1f} | {default.total.p99_ms:,.1f} | "
           f"{naive.total.median_ms / default.total.median_ms:.2f}x |")
    assert row in text
    assert len(lat.preprocess.variants) == 3


def check_training(tr, text: str) -> None:
    assert set(tr.variants) == {training.RECOMPUTED_FP32, "full fine-tune (fp32)", training.CACHED}
    assert all(_positive(v.images_per_s) and len(v.runs) >= 1 for v in tr.variants.values())
    assert tr.images == 8
    c = tr.cache
    assert _positive(c.build_s) and _positive(c.speedup_per_epoch)
    assert c.speedup_per_epoch == pytest.approx(tr.variants[training.CACHED].images_per_s
                                                / tr.variants[training.RECOMPUTED_FP32].images_per_s)
    assert c.epoch_recomputed_s == pytest.approx(8 / tr.variants[training.RECOMPUTED_FP32].images_per_s)
    assert f"| {training.RECOMPUTED_FP32} | {tr.variants[training.RECOMPUTED_FP32].images_per_s:,.1f} | 1.00x |" in text
    assert f"cache speed-up per epoch >= {training.GOAL_CACHE_SPEEDUP:.0f}x: **" in text


def check_data(data, text: str) -> None:
    assert set(data.loaders) == {"augmented, 0 workers", "decode only, 0 workers"}
    for v in data.loaders.values():
        assert _positive(v.images_per_s) and v.workers == 0 and v.error is None
        assert v.batch_shape == [4, 3, 66, 200]
    assert list(data.consumers) == ["pilotnet full fine-tune (fp32, model only)"]
    rate = data.consumers["pilotnet full fine-tune (fp32, model only)"]
    assert _positive(rate)
    augmented = data.loaders["augmented, 0 workers"]
    assert f"| augmented, 0 workers | {augmented.startup_s:,.2f} | {augmented.images_per_s:,.1f} | " \
           f"{augmented.images_per_s / rate:.1f}x |" in text


def check_render(r, text: str) -> None:
    assert {"center", "left", "right", "JPEG encode (q75)"} == set(r.per_camera)
    for v in r.per_camera.values():
        assert v.time.n == 2 and v.frames_per_s == pytest.approx(1000.0 / v.time.median_ms)
    assert f"| center | {r.per_camera['center'].frames_per_s:,.0f} |" in text and "on the lake track" in text


def check_closed_loop(sim, text: str) -> None:
    (loop,) = sim.loops
    assert (loop.model, loop.backend, loop.steps) == ("pilotnet", "torch", 3)
    assert _positive(loop.frames_per_s) and loop.frames_per_s == pytest.approx(3 / loop.wall_s)
    # the server records a frame after its reply is sent: the last one may land after the client left
    assert loop.server_latency_ms["total"].n >= 1
    assert f"| pilotnet | torch / auto | {loop.frames_per_s:,.1f} | 3 |" in text


def check_soak(result, text: str) -> None:
    assert result.frames_done == 300 and not result.stopped_early
    assert result.connections == 3 and result.bad_replies == 0
    assert result.server_exit == 0 and result.server_errors == "none", result.server_summary
    assert "steer 300" in result.server_summary and "connect 3" in result.server_summary
    assert [s.frame for s in result.samples] == [0, 50, 100, 150, 200, 250, 300]
    assert all(s.rss_mb > 50 and s.threads >= 2 and s.fds >= 3 for s in result.samples)
    assert result.growth.warmup_sample.frame == 100 and result.growth.last_sample.frame == 300
    assert result.decode.pixels_identical is True
    assert {v.n for v in result.decode.variants.values()} == {5}
    assert "## 7. Soak through the wire" in text and "300 frames (" in text and "RSS growth after warm-up" in text


def check_input_size(result, text: str) -> None:
    assert list(result.sizes) == ["66x200 (default)", "75x320 (crop only)", "224x224"]
    assert result.sizes["66x200 (default)"].ratio == 1.0
    big = result.sizes["224x224"]
    assert big.ratio == pytest.approx(big.p50 / result.sizes["66x200 (default)"].p50)
    assert f"| 224x224 | {big.p50:.1f} | {big.p99:.1f} | {big.ratio:.2f}x |" in text
    assert text.startswith("`python -m bench.input_size --repeats 2`")


def check_alarm_wire(result, text: str) -> None:
    labels = ["no alarm (drive.py defaults)", "tta, scored before the reply", "tta, --alarm-async"]
    assert list(result.model.variants) == labels
    assert all(v.round_trip.n == 3 for v in result.model.variants.values())
    assert all(v.events.get("steer", 0) >= 3 for v in result.model.variants.values()), "each answered its frames"
    assert text.startswith(f"machine: {result.machine.cpu}") and "| tta, --alarm-async |" in text


def check_monitor(result, text: str) -> None:
    assert set(result.variants) == {"no monitor", "monitor, no page", "monitor, page open"}
    assert all(v.n == 3 for v in result.variants.values())  # one round of three frames each
    assert result.variants["no monitor"].p50_vs_no_monitor == 1.0
    assert result.page == "endpoint poller (page's rates)" and result.put_ns > 0
    idle = result.variants["monitor, no page"]
    assert f"| monitor, no page | 3 | {idle.p50_ms:.2f} | {idle.p99_ms:.2f} |" in text
    assert text.startswith(f"machine: {result.machine.cpu}; flags: ")


def check_ensemble(result, text: str) -> None:
    assert list(result.variants) == ["one model", "one model, --tta flip", "two models", "two models, --tta flip"]
    assert all(s.n == 2 for s in result.variants.values())
    two = result.variants["two models"]
    assert f"| two models | {two.median_ms:.2f} | {two.p99_ms:.2f} | " \
           f"{two.median_ms / result.variants['one model'].median_ms:.2f}x |" in text
    assert f"CPU: {result.cpu}" in text


def check_training_speed(result, text: str) -> None:
    steps, loader = result.steps["pilotnet"], result.loader["pilotnet"]
    assert list(steps) == ["fp32, contiguous", "fp32, channels_last", "bf16 autocast, channels_last"]
    assert steps["fp32, contiguous"].vs_fp32 == 1.0 and all(_positive(v.images_per_s) for v in steps.values())
    assert len(loader) == 4 and loader["0 workers (train.py default), all cores"].vs_default == 1.0
    assert all(len(v.runs) == 1 for v in loader.values())
    assert f"CPU: {result.machine.cpu}, {result.machine.cores} cores" in text
    assert f"{steps['fp32, channels_last'].images_per_s:7.1f} images/s" in text


def check_tracks(result, text: str) -> None:
    assert "lake/center" in result.variants and "calibration: 2.5 ms CPU spin" in result.variants
    spin = result.variants["calibration: 2.5 ms CPU spin"]
    assert spin.frames == 10 and spin.cpu_median_ms == pytest.approx(2.5, abs=0.5)  # a busy loop of 2.5 ms CPU
    lake = result.variants["lake/center"]
    assert lake.frames_per_s == pytest.approx(1000.0 / lake.cpu_median_ms)
    assert f"| lake/center | {lake.cpu_median_ms:.2f} | {lake.cpu_p99_ms:.2f} | {lake.frames_per_s:.0f} |" in text


def check_elevation_cost(result, text: str) -> None:
    assert result.frames == 2 and set(result.variants) == {"flat renderer (whole frame)", "height-field ground only"}
    flat = result.variants["flat renderer (whole frame)"]
    assert _positive(flat.median_ms) and flat.p99_ms >= flat.median_ms
    assert f"median {flat.median_ms:6.2f} ms" in text and text.startswith(f"CPU: {result.cpu}; 1 thread; 2 frames")


def check_replay(result, text: str) -> None:
    assert result.calibration == [] and result.fidelity == [], "quick settings measure speed only"
    assert len(result.speed) == 3 and all(_positive(rate) for rate in result.speed.values())
    for name, rate in result.speed.items():
        assert f"| {name} | {rate:.0f} |" in text
    assert text.startswith(f"CPU: {result.cpu}")


def check_perturb(result, text: str) -> None:
    assert [row.name for row in result.rows] == ["clean", "gaussian_noise", "distance_fog"]
    assert result.rows[0].alone is None and all(_positive(row.render) for row in result.rows)
    assert all(_positive(row.alone) for row in result.rows[1:])
    for row in result.rows:
        assert f"| {row.name} |" in text and f"{row.render:,.0f} | {'yes' if row.render >= 200 else 'no'} |" in text
    assert text.startswith(f"CPU: {result.cpu}")


CHECKS: dict[str, Callable[[Any, str], None]] = {
    "limits": check_limits, "wire": check_wire, "latency": check_latency, "training": check_training,
    "data": check_data, "render": check_render, "closed_loop": check_closed_loop, "soak": check_soak,
    "input_size": check_input_size, "monitor": check_monitor, "ensemble": check_ensemble,
    "training_speed": check_training_speed, "tracks": check_tracks, "elevation_cost": check_elevation_cost,
    "replay": check_replay, "perturb": check_perturb, "alarm_wire": check_alarm_wire,
}


def test_every_registered_benchmark_has_its_own_checks():
    assert set(CHECKS) == set(BENCHMARKS)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in BENCHMARKS])
def test_benchmark_returns_its_typed_result_and_writes_its_section_from_it(name):
    entry = BENCHMARKS[name]
    result = quick_result(name)
    assert isinstance(result, entry.result), type(result)
    text = entry.section(result)  # no other results: a section must stand alone
    CHECKS[name](result, text)
    assert all(line.startswith(("- ", "  - ")) for line in entry.findings(result)), "findings are markdown bullets"
    # results.json holds it as plain JSON and gives back the same dataclasses
    assert from_jsonable(entry.result, json.loads(json.dumps(to_jsonable(result)))) == result


def test_each_benchmark_has_one_line_of_help_and_smaller_quick_settings():
    for name, entry in BENCHMARKS.items():
        assert entry.name == name and entry.help and "\n" not in entry.help and len(entry.help) < 110, name
        assert type(entry.quick()) is type(entry.config()) and entry.quick() != entry.config(), name


def test_limits_sets_section_one_fastest_runtime_against_the_peak():
    lim, lat = quick_result("limits"), quick_result("latency")
    text = BENCHMARKS["limits"].section(lim, latency=lat)
    timed = {n: v.infer.median_ms for n, v in lat.models["pilotnet"].variants.items() if v.infer is not None}
    best = min(timed, key=timed.get)
    assert f"| pilotnet | {lim.models['pilotnet'].gflop:,.3f} | {best} (fastest in section 1) | {timed[best]:,.2f} |" \
           in text


def test_page_writes_the_sections_in_page_order_with_findings_and_the_chart(tmp_path):
    names = ("latency", "training", "data", "render", "closed_loop", "limits")
    record = registry.Run(machine=registry.machine(), command="make bench",
                          results={n: quick_result(n) for n in names}, wall_s=60.0)
    md, png = tmp_path / "benchmarks.md", tmp_path / "benchmarks.png"
    page.write(record, md, png)
    text = md.read_text()
    headings = ["## Machine", "## 1. Driving latency", "## 2. Closed loop", "## 3. Machine limits",
                "## 4. Training throughput", "## 5. Data pipeline", "## 6. Simulator render rate", "## Findings"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    assert "Regenerate with `make bench` (about 1 minutes here)" in text
    assert "(fastest in section 1)" in text, "limits reads latency's results on the page"
    for finding in BENCHMARKS["latency"].findings(quick_result("latency")):
        assert finding in text
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stored_results_rebuild_docs_benchmarks_md_exactly():
    """The page quotes no number that bench/results.json does not hold."""
    record = registry.load(REPO / "bench" / "results.json")
    assert page.markdown(record, "benchmarks.png") == (REPO / "docs" / "benchmarks.md").read_text()


def test_update_puts_one_result_into_a_stored_run_and_names_it_on_the_page(tmp_path):
    stored = registry.load(REPO / "bench" / "results.json")
    measured = registry.Run(machine=registry.machine(), command="python -m bench render --update",
                            results={"render": quick_result("render")}, sections_s={"render": 1.5}, loadavg_end=0.5)
    path = tmp_path / "results.json"
    registry.save(registry.merge(stored, measured), path)
    again = registry.load(path)
    assert again.results["render"] == quick_result("render") and again.results["soak"] == stored.results["soak"]
    assert again.measured_separately["render"].command == "python -m bench render --update"
    assert again.measured_separately["render"].loadavg[1] == 0.5
    assert "| section render | measured separately: `python -m bench render --update`" in page.markdown(again, "x.png")


def test_data_counts_training_rates_as_consumers_when_training_ran_before():
    tr = registry.load(REPO / "bench" / "results.json").results["training"]
    config = data_pipeline.with_training_rates(data_pipeline.DataConfig(), {"training": tr})
    assert config.model_rates == {
        f"resnet50 {name} (section 4)": tr.variants[name].images_per_s
        for name in ("frozen, features recomputed (fp32)", "full fine-tune (fp32)")}
    assert data_pipeline.with_training_rates(data_pipeline.DataConfig(), {}).model_rates == {}


def test_listing_shows_every_benchmark_on_one_line(capsys):
    from bench.__main__ import main

    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:len(BENCHMARKS)]] == list(BENCHMARKS)
    assert lines[len(BENCHMARKS)] == ""


def test_unknown_benchmark_name_suggests_the_close_one(capsys):
    from bench.__main__ import main

    assert main(["latncy"]) == 2
    assert "did you mean latency?" in capsys.readouterr().err
    with pytest.raises(KeyError, match="python -m bench"):
        registry.get("nothing-like-it")


def test_reading_results_back_names_a_field_the_dataclass_lacks():
    with pytest.raises(ValueError, match="Sample has no field\\(s\\) cpu"):
        from_jsonable(soak.Sample, {"frame": 0, "t_s": 0.0, "rss_mb": 1.0, "threads": 1, "fds": 3, "cpu": 1.0})
    assert from_jsonable(soak.Sample, {"frame": 0, "t_s": 0, "rss_mb": 1, "threads": 1, "fds": 3}).t_s == 0.0


def test_scratch_folder_is_removed_when_the_bench_process_exits():
    # Each process writes 0.2-0.3 GB of checkpoints and exports there; left behind, runs fill /tmp.
    code = ("from bench import inputs; p = inputs.workdir(); inputs.checkpoint('pilotnet');"
            "print(p, sum(1 for _ in p.iterdir()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO)
    folder, files = done.stdout.split()
    assert int(files) == 1  # the checkpoint was there while the process ran
    assert not Path(folder).exists()
