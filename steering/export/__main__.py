"""`python -m steering.export MODEL.pt --format onnx|openvino|torchscript|... [--int8 [--calibration LOG]] --out FILE`.

Writes FILE (OpenVINO: FILE.xml + .bin) and FILE.json, the export record; prints the verification
(max |Δ| vs the checkpoint's eager fp32). Exit status 0 when written and verified; 1 when the
verification fails (nothing is written); 2 for a bad request or an unreadable checkpoint. The logic
is `steering.export.export_checkpoint`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.cli import setup_logging
from steering.export import ExportConfig, ExportError, VerificationError, export_checkpoint
from steering.inference import runtimes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steering.export", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="checkpoint written by train.py (e.g. runs/x/best.pt)")
    parser.add_argument("--format", required=True, choices=list(runtimes.export_formats()),
                        help=runtimes.export_help())
    parser.add_argument("--out", type=Path, required=True, help="the model file to write (its record: OUT.json)")
    parser.add_argument("--int8", action="store_true",
                        help="onnx, openvino: static int8 quantization, kept only within the verification gate")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="--int8: a driving_log.csv whose frames calibrate it (default: the checkpoint's "
                             "training logs)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the verification; 0 = all")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        config = ExportConfig(args.format, args.out, int8=args.int8, calibration=args.calibration,
                              threads=args.threads)
        result = export_checkpoint(args.model, config)
    except VerificationError as exc:
        print(f"steering.export: {exc}", file=sys.stderr)
        return 1
    except (ExportError, CheckpointError, ValueError) as exc:
        print(f"steering.export: {exc}", file=sys.stderr)
        return 2
    record = result.record
    print(f"exported {record.model} ({args.model.name}) as {record.format} {record.precision}: "
          + ", ".join(str(p) for p in result.files))
    print(f"verified: max |Δ| {result.max_diff:.3g} vs eager fp32 on {record.verification['frames']} "
          f"(gate {runtimes.TOLERANCE:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
