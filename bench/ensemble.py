"""What test-time flip augmentation and ensembles cost per frame: `python -m bench.ensemble`.

`Ensemble.infer` (steering.inference.ensemble) on prepared real frames, interleaved: one model, one
model with --tta flip, two models, two models with --tta flip, all on drive.py's default runtime.
Prints a markdown table; the frame's decoding and preprocessing are paid once and left out.
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

from bench import inputs
from bench.benchmark import Benchmark
from bench.machine import cpu_line, machine
from bench.timing import Stats, interleave
from steering.inference import InferenceConfig
from steering.inference.ensemble import load_model
from steering.preprocess import decode_jpeg


@dataclass
class EnsembleConfig:
    model: str = "pilotnet"
    repeats: int = 200  # timed frames per variant
    threads: int = 0  # CPU threads per model; 0 = all cores


@dataclass
class EnsembleResult:
    config: EnsembleConfig
    cpu: str  # the CPU line (model and the flags that decide bf16/int8 speed)
    runtime: str  # the first model's `describe()`
    variants: dict[str, Stats]


def run(config: EnsembleConfig | None = None) -> EnsembleResult:
    config = config or EnsembleConfig()
    paths = [inputs.checkpoint(config.model, seed) for seed in (0, 1)]
    options = {"device": "cpu", "threads": config.threads}
    variants = {"one model": load_model(paths[0], InferenceConfig(**options)),
                "one model, --tta flip": load_model(paths[0], InferenceConfig(tta="flip", **options)),
                "two models": load_model(paths, InferenceConfig(**options)),
                "two models, --tta flip": load_model(paths, InferenceConfig(tta="flip", **options))}
    first = variants["one model"]
    first.configure_thread()
    xs = itertools.cycle([first.prepare(decode_jpeg(jpeg)) for jpeg in inputs.jpeg_frames(16)])
    stats = interleave({name: (lambda m=m: m.infer(next(xs))) for name, m in variants.items()},
                       repeats=config.repeats)
    return EnsembleResult(config=config, cpu=cpu_line(machine()), runtime=first.describe(), variants=stats)


def quick_config() -> EnsembleConfig:
    return EnsembleConfig(repeats=2)


def section(result: EnsembleResult) -> str:
    c = result.config
    base = result.variants["one model"].median_ms
    lines = [f"`python -m bench.ensemble --model {c.model} --repeats {c.repeats} --threads {c.threads}`: "
             f"infer per frame, batch 1, {result.runtime}. CPU: {result.cpu}.", "",
             "| variant | p50 ms | p99 ms | p50 vs one model |", "|---|---|---|---|"]
    lines += [f"| {name} | {s.median_ms:.2f} | {s.p99_ms:.2f} | {s.median_ms / base:.2f}x |"
              for name, s in result.variants.items()]
    return "\n".join(lines)


BENCHMARK = Benchmark(
    name="ensemble", help="what --tta flip and a two-model ensemble cost per frame",
    config=EnsembleConfig, quick=quick_config, run=run, result=EnsembleResult, section=section,
    doc="printed, quoted in docs/drive.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pilotnet")
    parser.add_argument("--repeats", type=int, default=200, help="timed frames per variant")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per model; 0 = all cores")
    args = parser.parse_args(argv)
    print(section(run(EnsembleConfig(model=args.model, repeats=args.repeats, threads=args.threads))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
