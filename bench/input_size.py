"""How the model's input size sets the driving latency: `python -m bench.input_size`.

The seed ResNet-50 (+ head) through drive.py's own Predictor (default runtime), at the input
sizes people use for the simulator's 320x160 frames: PilotNet's 66x200 (the project's default),
the cropped road at full resolution (75x320), and ImageNet's 224x224. Variants are interleaved.
The table replaces the block between the markers in docs/model.md, so the page never quotes a
number this command did not produce.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import inputs
from bench.benchmark import Benchmark
from bench.timing import interleave
from steering.checkpoint import save_checkpoint
from steering.inference import InferenceConfig, Predictor
from steering.model import ModelConfig, create_model
from steering.preprocess import PreprocessConfig, decode_base64_jpeg

SIZES = {"66x200 (default)": (66, 200), "75x320 (crop only)": (75, 320), "224x224": (224, 224)}
DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"
BEGIN, END = "<!-- input-size:begin -->", "<!-- input-size:end -->"


@dataclass
class InputSizeConfig:
    repeats: int = 100  # timed frames per input size
    model: str = "resnet50"


@dataclass
class SizeLatency:
    p50: float  # ms per frame
    p99: float
    ratio: float  # p50 / the 66x200 p50
    runtime: str


@dataclass
class InputSizeResult:
    repeats: int
    sizes: dict[str, SizeLatency]


def run(config: InputSizeConfig | None = None) -> InputSizeResult:
    config = config or InputSizeConfig()
    model = config.model
    frames = [decode_base64_jpeg(text) for text in inputs.base64_frames(16)]
    predictors, counter = {}, iter(range(10**9))
    for label, (height, width) in SIZES.items():
        torch.manual_seed(0)
        pre = PreprocessConfig(height=height, width=width)
        path = save_checkpoint(
            inputs.workdir() / f"{model}-{height}x{width}.pt",
            create_model(model, preprocess=pre).eval(),
            ModelConfig(model),
            pre,
        )
        predictors[label] = Predictor(path, InferenceConfig())
    variants = {label: (lambda p=p: p.predict(frames[next(counter) % len(frames)])) for label, p in predictors.items()}
    stats = interleave(variants, repeats=config.repeats, block=5)
    base = stats["66x200 (default)"].median_ms
    return InputSizeResult(repeats=config.repeats, sizes={
        label: SizeLatency(p50=s.median_ms, p99=s.p99_ms, ratio=s.median_ms / base,
                           runtime=predictors[label].describe().split(" on ", 1)[-1]) for label, s in stats.items()})


def quick_config() -> InputSizeConfig:
    return InputSizeConfig(repeats=2, model="pilotnet")


def section(result: InputSizeResult) -> str:
    """The table that sits between the markers in docs/model.md."""
    runtime = next(iter(result.sizes.values())).runtime
    lines = [f"`python -m bench.input_size --repeats {result.repeats}`: ResNet-50 + head, decode + preprocess + "
             f"inference per frame, batch 1, runtime `{runtime}`.", "",
             "| input | p50 ms | p99 ms | p50 vs 66x200 |", "|---|---|---|---|"]
    lines += [f"| {label} | {r.p50:.1f} | {r.p99:.1f} | {r.ratio:.2f}x |" for label, r in result.sizes.items()]
    return "\n".join(lines)


def publish(result: InputSizeResult, doc: Path = DOC) -> Path:
    """Replace the block between the markers in docs/model.md with this result's table."""
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    block = section(result)
    doc.write_text(pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text), encoding="utf-8")
    return doc


BENCHMARK = Benchmark(
    name="input_size", help="driving latency of ResNet-50 at the input sizes people use (66x200, 75x320, 224x224)",
    config=InputSizeConfig, quick=quick_config, run=run, result=InputSizeResult, section=section, publish=publish,
    doc="docs/model.md (between its markers)", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100, help="timed frames per input size")
    parser.add_argument("--no-docs", action="store_true", help="print the table, leave docs/model.md alone")
    args = parser.parse_args(argv)
    result = run(InputSizeConfig(repeats=args.repeats))
    print(section(result))
    if not args.no_docs:
        publish(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
