"""steering-crops: the model's input crops of several recordings side by side (PNG) and their colour statistics.

For the gap between rendered and real frames: e.g. a headless recording with the default camera rig, one
with `--camera unity`, and a real Unity recording, one row each (`steering.data.crops`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from data_tools.cli import add_common, add_logs_input, log_paths, run_tool
from steering.data.crops import crop_sheet
from steering.eval.offline import log_name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steering-crops", description=__doc__.splitlines()[0],
                                     epilog="example: steering-crops sim_default/ sim_unity/ lake/ --out crops.png")
    group = add_logs_input(parser, "PNG to write")
    group.add_argument("--n", type=int, default=4, help="crops per recording, evenly spaced (default 4)")
    group.add_argument("--names", nargs="+", default=None, help="row names (default: the recordings' folder names)")
    add_common(parser)
    return parser


def _body(args: argparse.Namespace) -> str:
    logs = log_paths(args.logs)
    names = args.names or [log_name(p) for p in logs]
    path, stats = crop_sheet(logs, names, args.out, args.n)
    lines = [f"wrote {path}", "", "| recording | crops | mean R, G, B | std R, G, B |", "|---|---:|---|---|"]
    lines += [f"| {s.name} | {s.frames} | {', '.join(f'{v:.1f}' for v in s.mean)} | "
              f"{', '.join(f'{v:.1f}' for v in s.std)} |" for s in stats]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(build_parser(), _body, argv)


if __name__ == "__main__":
    sys.exit(main())
