"""What a failure monitor adds to drive.py's round trip, as the simulator sees it.

    python -m bench.alarm_wire --frames 200     # or: python -m bench alarm_wire

bench/wire.py's Unity-like client and interleaving (every variant running at once, visited in blocks
of frames so a burst of load from elsewhere hits all alike) drive PilotNet (seeded random weights:
the cost does not depend on them) through `python drive.py` with drive.py's defaults and no alarm,
then with each monitor kind scored before the reply (`--alarm K --alarm-file F`) and with
`--alarm-async` (the reply carries the previous frame's score). The monitors are fitted here first on
the real recording's frames (small fits: the cost does not depend on their quality). Prints the CPU,
the load average before and after, and one markdown table: client round trip p50/p99, the increase
over no alarm, the server's own `alarm` stage (the monitor's cost per scored frame) and the share of
answered frames that were scored (with `--alarm-async`, frames arriving while the monitor is busy
are not).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import inputs, wire
from bench.benchmark import Benchmark
from bench.machine import Machine, cpu_line, machine
from steering.cli import setup_logging
from steering.inference.gate import log_frames
from steering.monitors import fit_monitor

log = logging.getLogger(__name__)

KINDS = ("autoencoder", "mc-dropout", "tta", "ensemble", "saliency")
NONE = "no alarm (drive.py defaults)"


def fit_monitors(folder: Path, frames: int, kinds: tuple[str, ...] = KINDS) -> dict[str, Path]:
    """Monitor files for PilotNet checkpoints (seed 0 drives; seed 1 is the ensemble's second member)."""
    checkpoint, second = inputs.checkpoint("pilotnet"), inputs.checkpoint("pilotnet", seed=1)
    nominal, source = log_frames([inputs.REAL_LOG], frames)
    files = {}
    for kind in kinds:
        checkpoints = [checkpoint, second] if kind == "ensemble" else [checkpoint]
        monitor = fit_monitor(kind, nominal, checkpoints, source=source, options={"epochs": 2, "passes": 16})
        files[kind] = monitor.save(folder / f"{kind}.pt")
    return files


def variants(files: dict[str, Path]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {NONE: ()}
    for kind, path in files.items():
        flags = ("--alarm", kind, "--alarm-file", str(path))
        out[f"{kind}, scored before the reply"] = flags
        out[f"{kind}, --alarm-async"] = (*flags, "--alarm-async")
    return out


def table(result: wire.WireModel) -> str:
    base = result.variants[NONE].round_trip
    lines = ["| drive.py | round trip p50 ms | p99 ms | p50 vs no alarm | server `alarm` stage p50 / p99 ms "
             "| frames scored |", "|---|---|---|---|---|---|"]
    for label, v in result.variants.items():
        rt, stage = v.round_trip, v.server.get("alarm")
        added = "" if label == NONE else f"{(rt.median_ms / base.median_ms - 1) * 100:+.0f} %"
        alarm = f"{stage.p50:.2f} / {stage.p99:.2f}" if stage else ""
        answered = v.events.get("steer", 0)
        scored = "" if label == NONE or not answered else \
            f"{(answered - v.events.get('alarm_skipped', 0)) / answered:.0%}"
        lines.append(f"| {label} | {rt.median_ms:.2f} | {rt.p99_ms:.2f} | {added} | {alarm} | {scored} |")
    return "\n".join(lines)


@dataclass
class AlarmWireConfig:
    frames: int = 200  # timed round trips per variant
    fit_frames: int = 100  # nominal frames the monitors are fitted on
    kinds: tuple[str, ...] = KINDS
    warmup: int = 20


@dataclass
class AlarmWireResult:
    machine: Machine
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    model: wire.WireModel


def quick_config() -> AlarmWireConfig:
    return AlarmWireConfig(frames=3, fit_frames=8, kinds=("tta",), warmup=2)


def run(config: AlarmWireConfig) -> AlarmWireResult:
    before = tuple(round(v, 2) for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="steering-alarm-wire-") as folder:
        files = fit_monitors(Path(folder), config.fit_frames, tuple(config.kinds))
        wire_config = wire.WireConfig(models=("pilotnet",), frames=config.frames, warmup=config.warmup,
                                      block=min(10, config.frames), variants=variants(files), naive=False,
                                      legacy=False)
        model = wire.run_model("pilotnet", wire_config)
    return AlarmWireResult(machine(), before, tuple(round(v, 2) for v in os.getloadavg()), model)


def section(result: AlarmWireResult) -> str:
    return (f"machine: {cpu_line(result.machine)}; load average before {result.load_before[0]:.2f}, after "
            f"{result.load_after[0]:.2f}\n\n" + table(result.model))


BENCHMARK = Benchmark(
    name="alarm_wire", help="what each failure monitor adds to drive.py's round trip, before the reply and async",
    config=AlarmWireConfig, quick=quick_config, run=run, result=AlarmWireResult, section=section,
    doc="printed, quoted in docs/misbehaviour.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alarm_wire", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="timed round trips per variant (default 200)")
    parser.add_argument("--fit-frames", type=int, default=100, help="nominal frames the monitors are fitted on")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), help="monitor kinds (default: all)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    setup_logging(False)
    result = run(AlarmWireConfig(frames=args.frames, fit_frames=args.fit_frames, kinds=tuple(args.kinds)))
    text = section(result)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
