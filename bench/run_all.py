"""Run every benchmark, then rewrite docs/benchmarks.md and docs/benchmarks.png from the results.

    python -m bench.run_all                 # everything, about 10-15 minutes on the 2-core machine
    python -m bench.run_all --quick         # tiny repetition counts: checks that it all runs
    python -m bench.run_all --only latency,limits --no-docs
    python -m bench.run_all --only soak --update   # measure one section, keep the others' results

Sections run one after the other (never in parallel: they would time each other); inside a
section, variants are interleaved. The raw results go to bench/results.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from bench import data_pipeline, latency, limits, report, simulator, soak, training, wire
from bench.findings import findings
from steering.cli import setup_logging

log = logging.getLogger("bench")

SECTIONS = ("limits", "wire", "latency", "training", "data", "simulator", "soak")
REPO = Path(__file__).resolve().parents[1]


def full_configs() -> dict[str, Any]:
    return {"limits": limits.LimitsConfig(), "wire": wire.WireConfig(), "latency": latency.LatencyConfig(),
            "training": training.TrainingConfig(), "data": data_pipeline.DataConfig(),
            "simulator": simulator.SimulatorConfig(),
            "soak": soak.SoakConfig()}  # 100,000 frames, or as many as fit in its max_seconds


def quick_configs() -> dict[str, Any]:
    """Minimal repetitions and the cheapest models: every code path, in well under a minute."""
    return {
        "limits": limits.LimitsConfig(models=("pilotnet",), matmul_size=256, matmul_repeats=2, model_repeats=3),
        "wire": wire.WireConfig(models=("pilotnet",), frames=10, warmup=5, block=5,
                                variants={wire.DEFAULT: (), wire.EAGER: ("--backend", "torch")}),
        "latency": latency.LatencyConfig(models=("pilotnet",), repeats=3, block=2, frames=4),
        "training": training.TrainingConfig(model="pilotnet", images=16, batch_size=8, rounds=1, cached_epochs=2),
        "data": data_pipeline.DataConfig(images=16, batch_size=8, workers=(0,), passes=1, consumers=("pilotnet",),
                                         consumer_seconds=0.2),
        "simulator": simulator.SimulatorConfig(render_repeats=3, loop_steps=5, loops=(("pilotnet", "torch", "auto"),)),
        "soak": soak.SoakConfig(frames=400, reconnect_every=100, warmup_frames=100, sample_every=50, max_seconds=60,
                                decode_repeats=20),
    }


def run_sections(sections: tuple[str, ...], configs: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": report.machine(), "sections_s": {}}
    started = time.perf_counter()
    runners: dict[str, Callable[[], Any]] = {
        "limits": lambda: limits.run(configs["limits"]),
        "wire": lambda: wire.run(configs["wire"]),
        "latency": lambda: latency.run(configs["latency"]),
        "training": lambda: training.run(configs["training"]),
        "data": lambda: data_pipeline.run(configs["data"], model_rates=_training_rates(results.get("training"))),
        "simulator": lambda: simulator.run(configs["simulator"]),
        "soak": lambda: soak.run(configs["soak"]),
    }
    for name in sections:
        start = time.perf_counter()
        log.info("bench: %s ...", name)
        results[name] = runners[name]()
        results["sections_s"][name] = time.perf_counter() - start
        log.info("bench: %s done in %.0f s (load average %.1f)", name, results["sections_s"][name], os.getloadavg()[0])
    results["wall_s"] = time.perf_counter() - started
    results["loadavg_end"] = os.getloadavg()[0]
    return results


def _training_rates(training_results: dict[str, Any] | None) -> dict[str, float]:
    """Section 4's measured training rates, as consumers the data pipeline must keep up with."""
    if not training_results:
        return {}
    model = training_results["model"]
    return {f"{model} {name} (section 4)": v["images_per_s"] for name, v in training_results["variants"].items()
            if "cache" not in name and "fp32" in name}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny repetition counts (a smoke run, not numbers)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md and the chart")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results.json", help="raw results file")
    parser.add_argument("--md", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the docs from a results file of an earlier run")
    parser.add_argument("--update", action="store_true",
                        help="keep the other sections of the --json file and replace only the --only ones "
                             "(the page names the sections measured separately, with their date and load)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    for noisy in ("steering", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"bench: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        configs = quick_configs() if args.quick else full_configs()
        results = run_sections(sections, configs)
        results["command"] = report.command_line()
        if args.update and args.json.is_file():
            measured, results = results, json.loads(args.json.read_text())
            for name in sections:
                results[name] = measured[name]
                results.setdefault("sections_s", {})[name] = measured["sections_s"][name]
                results.setdefault("measured_separately", {})[name] = {
                    "command": measured["command"], "date": measured["machine"]["date"],
                    "cpu": measured["machine"]["cpu"], "cores": measured["machine"]["cores"],
                    "loadavg": [measured["machine"]["loadavg_start"], measured["loadavg_end"]]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_docs:
        report.write(results, args.md, args.png, results["command"], findings(results))
        print(f"wrote {args.md} and {args.png} ({results['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
