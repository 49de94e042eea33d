"""Several models on the same tracks: one evaluation each, one markdown table, one plot.

    from steering.eval.compare import CompareConfig, compare
    result = compare(["runs/r50-frozen/best.pt", "runs/pilotnet/best.pt"], CompareConfig(tracks=("lake", "mountain")))
    print(result.table)

A tuple or list of checkpoints in place of one is an ensemble (steering.inference.ensemble), labelled `a.pt+b.pt`.

Each (model, track) pair is a full `steering.eval.evaluate.evaluate` run written to
`out/<model label>/<track>/`; `out/compare.md` holds the table and `out/compare.png` the plot. This
is how backbones and transfer strategies are compared by how they drive, not only by validation loss.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from steering.eval.config import EvalConfig
from steering.eval.evaluate import ModelEntry, entry_name, entry_paths, evaluate
from steering.eval.plots import plot_comparison
from steering.eval.report import EvalReport, markdown_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareConfig:
    """Which tracks, how far, where to write; `base` carries every other evaluation setting."""

    tracks: tuple[str, ...] = ("lake", "mountain")
    laps: float = 1.0
    out_dir: Path = Path("runs/compare")
    base: EvalConfig = field(default_factory=EvalConfig)  # speed, video, interventions, progress ...


@dataclass
class CompareResult:
    reports: list[EvalReport]
    table: str  # markdown
    table_path: Path
    plot_path: Path


def model_labels(checkpoints: Sequence[ModelEntry]) -> list[str]:
    """Short unique names: the file name, with its folder (`pilotnet/best.pt`) when file names repeat;
    an ensemble's names joined by `+` (`a.pt+b.pt`)."""
    labels = [entry_name(c) for c in checkpoints]
    if len(set(labels)) < len(labels):
        labels = [entry_name(c, lambda p: f"{p.parent.name}/{p.name}" if p.parent.name else p.name)
                  for c in checkpoints]
    if len(set(labels)) < len(labels):
        labels = [f"{label}#{i + 1}" for i, label in enumerate(labels)]
    return labels


def require_models(checkpoints: Sequence[ModelEntry], command: str) -> None:
    """ValueError without models, FileNotFoundError naming every checkpoint (ensemble members too) that is missing."""
    if not checkpoints:
        raise ValueError(f"{command}: give at least one model file")
    missing = [str(p) for c in checkpoints for p in entry_paths(c) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{command}: model file(s) not found: {', '.join(missing)}")


def folder_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "model"


def compare(checkpoints: Sequence[ModelEntry], config: CompareConfig | None = None) -> CompareResult:
    """Evaluate every checkpoint (or ensemble) on every track; write compare.md and compare.png in `config.out_dir`."""
    config = config or CompareConfig()
    require_models(checkpoints, "compare")
    out = Path(config.out_dir)
    reports: list[EvalReport] = []
    for checkpoint, label in zip(checkpoints, model_labels(checkpoints), strict=False):
        for track in config.tracks:
            eval_config = replace(config.base, track=track, laps=config.laps, label=label, port=None,
                                  out_dir=out / folder_name(label) / track)
            result = evaluate(checkpoint, eval_config)
            log.info("%s", result.report.summary())
            reports.append(result.report)
    return write_comparison(reports, out)


def write_comparison(reports: Sequence[EvalReport], out_dir: str | Path) -> CompareResult:
    """compare.md (the markdown table) and compare.png (the plot) for `reports`, in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(reports)
    table_path = out / "compare.md"
    table_path.write_text(table)
    plot_path = plot_comparison(reports, out / "compare.png")
    return CompareResult(list(reports), table, table_path, plot_path)
