"""steering-saliency: which pixels drive the steering, as overlay images and/or an MP4.

For a model (`model.pt`) and a recording or frames folder, computes `steering.explain` saliency on
the frames as the model sees them (cropped, resized, normalised with the checkpoint's config) and
draws it back on the camera frame, with the predicted (and, from a log, recorded) steering:
- `--method vbp` (default): VisualBackProp, a heat map of what the network's features respond to;
  forward pass only, fast enough for every frame of a lap.
- `--method gradcam`: signed Grad-CAM; blue pushes the steering left, red pushes it right.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
from tqdm import tqdm

from data_tools.cli import add_common, run_tool
from data_tools.framesource import frames_from
from data_tools.video import Mp4Writer, batched, draw_steering
from steering.checkpoint import load_model
from steering.explain import METHODS, frame_saliency, overlay, overlay_signed
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH, read_frame

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steering-saliency",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: steering-saliency model.pt data/lap1 --mp4 lap1_saliency.mp4 --no-png",
    )
    group = parser.add_argument_group("Inputs and output")
    group.add_argument("model", help="checkpoint written by train.py")
    group.add_argument("source", help="recording folder / driving_log.csv, or a folder of frames")
    group.add_argument("--out", type=Path, help="folder for overlay PNGs (one per frame)")
    group.add_argument("--mp4", type=Path, help="also write the overlays as an MP4")
    group.add_argument("--fps", type=float, default=15.0, help="MP4 frames per second")
    group.add_argument("--camera", default="center", help="center, left or right (default center)")
    group.add_argument("--every", type=int, default=1, help="use every Nth frame")
    group.add_argument("--limit", type=int, default=0, help="at most N frames (after --every); 0 = all")
    method = parser.add_argument_group("Saliency")
    method.add_argument("--method", choices=METHODS, default="vbp", help="vbp (fast) or gradcam (signed)")
    method.add_argument("--alpha", type=float, default=0.6, help="overlay strength in [0, 1]")
    method.add_argument("--batch-size", type=int, default=16)
    add_common(parser, progress=True)
    return parser


def _run(args: argparse.Namespace) -> str:
    if args.out is None and args.mp4 is None:
        raise ValueError("nothing to write; give --out FOLDER and/or --mp4 FILE")
    if args.every < 1 or args.limit < 0 or not 0 <= args.alpha <= 1:
        raise ValueError("--every must be >= 1, --limit >= 0 and --alpha in [0, 1]")
    model, config = load_model(args.model)
    items = frames_from(args.source, camera=args.camera)[:: args.every]
    items = items[: args.limit] if args.limit else items
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    writer = Mp4Writer(args.mp4, args.fps, (FRAME_WIDTH, FRAME_HEIGHT)) if args.mp4 else None
    try:
        with tqdm(total=len(items), desc=args.method, unit="frame", disable=args.no_progress) as bar:
            for chunk in batched(items, args.batch_size):
                frames = [read_frame(item.path) for item in chunk]
                maps, predicted = frame_saliency(model, config, frames, method=args.method)
                for item, frame, values, pred in zip(chunk, frames, maps, predicted, strict=False):
                    drawn = (overlay_signed(frame, values, args.alpha) if args.method == "gradcam"
                             else overlay(frame, values, args.alpha))
                    drawn = draw_steering(drawn, item.steering, float(pred))
                    if args.out:
                        name = f"{written:05d}_{Path(item.path).stem}.png"
                        cv2.imwrite(str(args.out / name), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
                    if writer:
                        writer.write(drawn)
                    written += 1
                bar.update(len(chunk))
    finally:
        if writer:
            writer.close()
    where = " and ".join(str(p) for p in (args.out, args.mp4) if p)
    return f"{args.method} saliency for {written} frames -> {where}"


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
