"""steering-video: a frames folder or recording -> MP4, optionally with the steering drawn on it.

Input: a recording (driving_log.csv + IMG/, from the simulator or `drive.py model.pt run1`) or a
bare frames folder. `--overlay true` draws the recorded steering, `--model model.pt` adds the
model's prediction; both as markers on a gauge (-1 left .. +1 right) and as numbers. Encoding is
OpenCV's VideoWriter (MPEG-4 Part 2, `mp4v`), which every player opens.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from data_tools.cli import add_common, run_tool
from data_tools.framesource import FrameItem, frames_from
from steering.checkpoint import load_model
from steering.eval.video import Mp4Writer
from steering.preprocess import PreprocessConfig, preprocess_frame, read_frame

log = logging.getLogger(__name__)

TRUE_COLOUR = (60, 220, 60)  # RGB green: what the driver did
PREDICTED_COLOUR = (255, 70, 70)  # RGB red: what the model would do


def draw_steering(frame_rgb: np.ndarray, true: float | None = None, predicted: float | None = None) -> np.ndarray:
    """A copy of the frame with a steering gauge along the bottom: green = recorded, red = predicted."""
    out = frame_rgb.copy()
    h, w = out.shape[:2]
    y = h - max(8, h // 16)
    margin = w // 10
    cv2.line(out, (margin, y), (w - margin, y), (255, 255, 255), 1, cv2.LINE_AA)
    cv2.line(out, (w // 2, y - 5), (w // 2, y + 5), (255, 255, 255), 1, cv2.LINE_AA)
    scale = max(0.35, w / 900)
    texts = []
    for value, colour, label in ((true, TRUE_COLOUR, "true"), (predicted, PREDICTED_COLOUR, "pred")):
        if value is None:
            continue
        x = int(round(w / 2 + float(np.clip(value, -1, 1)) * (w / 2 - margin)))
        cv2.line(out, (x, y - 7), (x, y + 7), colour, 3, cv2.LINE_AA)
        texts.append((f"{label} {value:+.3f}", colour))
    for i, (text, colour) in enumerate(texts):
        org = (6, int(16 * scale / 0.35) * (i + 1))
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return out


@torch.no_grad()
def predict(model: torch.nn.Module, config: PreprocessConfig, frames: Sequence[np.ndarray]) -> np.ndarray:
    """Steering predicted for camera frames, preprocessed exactly as when driving. (N,) float32."""
    device = next(model.parameters()).device
    x = torch.stack([preprocess_frame(f, config) for f in frames]).to(device)  # (N, 3, H, W)
    return model(x).cpu().numpy().astype(np.float32)


def batched(items: Sequence[FrameItem], size: int) -> Iterable[Sequence[FrameItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def render_video(items: Sequence[FrameItem], out: Path, fps: float, show_true: bool = False,
                 model_path: str | Path | None = None, scale: float = 1.0, batch_size: int = 32,
                 progress: bool = True) -> int:
    """Write the frames of `items` to `out`; returns the number of frames written."""
    model, config = load_model(model_path) if model_path else (None, None)
    first = read_frame(items[0].path)
    size = (int(round(first.shape[1] * scale)), int(round(first.shape[0] * scale)))
    with Mp4Writer(out, fps, size) as writer, tqdm(total=len(items), desc="video", unit="frame",
                                                     disable=not progress) as bar:
        for chunk in batched(items, batch_size):
            frames = [read_frame(item.path) for item in chunk]
            predicted = predict(model, config, frames) if model is not None else [None] * len(frames)
            for item, frame, pred in zip(chunk, frames, predicted, strict=False):
                if scale != 1.0:
                    frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
                truth = item.steering if show_true else None
                if truth is not None or pred is not None:
                    frame = draw_steering(frame, truth, None if pred is None else float(pred))
                writer.write(frame)
            bar.update(len(chunk))
        return writer.frames


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-video", description=__doc__.splitlines()[0],
                                     epilog="example: steering-video run1 --out run1.mp4 --fps 15 --overlay true "
                                            "--model model.pt")
    group = parser.add_argument_group("Inputs and output")
    group.add_argument("source", help="recording folder / driving_log.csv, or a folder of frames")
    group.add_argument("--out", required=True, type=Path, help="MP4 file to write")
    group.add_argument("--fps", type=float, default=15.0, help="frames per second (the simulator records 15)")
    group.add_argument("--camera", default="center", help="center, left or right (default center)")
    group.add_argument("--scale", type=float, default=1.0, help="resize factor for the video (2 = 640x320)")
    group.add_argument("--every", type=int, default=1, help="use every Nth frame")
    overlay = parser.add_argument_group("Steering overlay")
    overlay.add_argument("--overlay", choices=("none", "true"), default="none",
                         help="'true' draws the recorded steering (needs a log)")
    overlay.add_argument("--model", help="model.pt whose predicted steering is drawn too")
    add_common(parser, progress=True)
    return parser


def _run(args: argparse.Namespace) -> str:
    if args.fps <= 0 or args.scale <= 0 or args.every < 1:
        raise ValueError("--fps and --scale must be > 0 and --every >= 1")
    items = frames_from(args.source, camera=args.camera)[:: args.every]
    if args.overlay == "true" and items[0].steering is None:
        raise ValueError(f"{args.source}: a frames folder has no recorded steering; --overlay true needs a log")
    count = render_video(items, args.out, args.fps, show_true=args.overlay == "true", model_path=args.model,
                         scale=args.scale, progress=not args.no_progress)
    return f"wrote {args.out}: {count} frames at {args.fps:g} fps ({count / args.fps:.1f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
