"""What test-time flip augmentation and ensembles cost per frame: `python -m bench.ensemble`.

`Ensemble.infer` (steering.inference.ensemble) on prepared real frames, interleaved: one model, one
model with --tta flip, two models, two models with --tta flip, all on drive.py's default runtime.
Prints a markdown table; the frame's decoding and preprocessing are paid once and left out.
"""
from __future__ import annotations

import argparse
import itertools

from bench import inputs
from bench.timing import interleave
from steering.inference import InferenceConfig
from steering.inference.ensemble import load_model
from steering.preprocess import decode_jpeg


def measure(model: str, repeats: int, threads: int) -> tuple[dict, str]:
    paths = [inputs.checkpoint(model, seed) for seed in (0, 1)]
    config = {"device": "cpu", "threads": threads}
    variants = {"one model": load_model(paths[0], InferenceConfig(**config)),
                "one model, --tta flip": load_model(paths[0], InferenceConfig(tta="flip", **config)),
                "two models": load_model(paths, InferenceConfig(**config)),
                "two models, --tta flip": load_model(paths, InferenceConfig(tta="flip", **config))}
    first = variants["one model"]
    first.configure_thread()
    xs = itertools.cycle([first.prepare(decode_jpeg(jpeg)) for jpeg in inputs.jpeg_frames(16)])
    stats = interleave({name: (lambda m=m: m.infer(next(xs))) for name, m in variants.items()}, repeats=repeats)
    return stats, first.describe()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pilotnet")
    parser.add_argument("--repeats", type=int, default=200, help="timed frames per variant")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per model; 0 = all cores")
    args = parser.parse_args(argv)
    stats, runtime = measure(args.model, args.repeats, args.threads)
    base = stats["one model"].median_ms
    print(f"`python -m bench.ensemble --model {args.model} --repeats {args.repeats} --threads {args.threads}`: "
          f"infer per frame, batch 1, {runtime}.\n")
    print("| variant | p50 ms | p99 ms | p50 vs one model |\n|---|---|---|---|")
    for name, s in stats.items():
        print(f"| {name} | {s.median_ms:.2f} | {s.p99_ms:.2f} | {s.median_ms / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
