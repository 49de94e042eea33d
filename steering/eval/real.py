"""Real Unity recordings beside the headless scores: how each model steers on frames the project did not render.

The suite and the demo drive models in the project's own renderer, where a model can score 100 % and still
steer at chance on the Unity simulator's frames. Given real recordings (`--real LOG...`), this scores every
model on each of them in the two ways that need no Unity running:

- open loop (`steering.eval.offline`): its steering on every centre frame against the human's, smoothed over
  a second: curve-direction agreement, Pearson r, R², MAE beside the mean baseline;
- closed loop on the recording (`steering.replay`, NVIDIA's replay): autonomy % while its own steering moves
  the car off the recorded path and the views are synthesised from the recorded frames.

Writes `real.md` and `real.json` (plus the offline and replay commands' own files below them) and returns
the table for the suite's and the demo's output.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steering.eval.compare import folder_name
from steering.eval.evaluate import ModelEntry, entry_name
from steering.eval.offline import OfflineConfig, json_ready, log_name, run_offline
from steering.replay.command import ReplayOptions, replay_models
from steering.replay.loop import ReplayConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealConfig:
    """Which real recordings to score on, and where the files go."""

    logs: tuple[Path, ...] = ()  # driving_log.csv files (or folders holding one)
    out_dir: Path = Path("runs/real")
    replay: bool = True  # also the replay's closed loop (about a minute per 2,000 rows for PilotNet)
    progress: bool = True


@dataclass
class RealResult:
    rows: list[dict[str, Any]]  # one per model and log: the figures of the table
    table: str  # markdown
    files: dict[str, Path] = field(default_factory=dict)


def score_real(models: Sequence[ModelEntry], labels: Sequence[str], config: RealConfig) -> RealResult:
    """Offline figures and replay autonomy of every model on every log in `config.logs`."""
    if len(labels) != len(models):
        raise ValueError(f"{len(labels)} labels for {len(models)} models")
    out = Path(config.out_dir)
    offline = run_offline(models, config.logs, OfflineConfig(out_dir=out / "offline", progress=config.progress),
                          labels=labels)
    rows = []
    for result in offline.results:
        m = result["metrics"]
        rows.append({"model": result["model"], "log": result["log"], "path": result["path"],
                     "frames": result["scored"], "curve_agreement_pct": m["curve"]["agreement_pct"],
                     "curve_frames": m["curve"]["frames"], "pearson_r": m["smoothed"]["pearson_r"],
                     "r2": m["smoothed"]["r2"], "mae": m["smoothed"]["mae"],
                     "mae_mean_baseline": m["smoothed"]["mean_baseline_mae"]})
    if config.replay:
        by_pair = {(r["model"], r["path"]): r for r in rows}
        for entry, label in zip(models, labels, strict=True):
            for log_path in config.logs:
                name = log_name(log_path)
                options = ReplayOptions(out_dir=out / "replay" / f"{folder_name(label)}__{folder_name(name)}",
                                        loop=ReplayConfig(progress=config.progress))
                run = next(iter(replay_models([entry_name(entry, str)], [Path(log_path)], options).runs.values()))
                row = by_pair[(label, str(log_path))]
                row.update(replay_autonomy_pct=run.autonomy, replay_interventions=len(run.interventions),
                           replay_elapsed_s=run.elapsed_s)
                log.info("%s on %s: replay autonomy %.1f %% (%d interventions in %.0f s)", label, name,
                         run.autonomy, len(run.interventions), run.elapsed_s)
    table = real_table(rows, replay=config.replay)
    files = {"table": out / "real.md", "json": out / "real.json", "offline": offline.files["table"]}
    files["table"].write_text(table)
    files["json"].write_text(json.dumps(json_ready({"rows": rows}), indent=2) + "\n")
    return RealResult(rows, table, files)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def real_table(rows: Sequence[dict[str, Any]], replay: bool = True) -> str:
    """The markdown table of `score_real`'s rows, with what each column means above it."""
    rule = ReplayConfig()  # the replay's take-over limits, as score_real runs it
    lines = ["On real Unity recordings (frames this project did not render): steering against the human's, "
             "smoothed over 1 s (curve agreement: the share of curve frames steered the human's way; chance is "
             "50 %)" + (f"; replay: autonomy % in NVIDIA's replay of the recording ({rule.max_offset_m:g} m / "
                        f"{rule.max_heading_deg:g}° from the recorded path is an intervention)" if replay else "")
             + ".", "",
             "| model | recording | frames | curve agreement % (curve frames) | r | R² | MAE (mean baseline) |"
             + (" replay autonomy % (interventions in s) |" if replay else ""),
             "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if replay else "")]
    for r in rows:
        line = (f"| {r['model']} | {r['log']} | {r['frames']} | {_num(r['curve_agreement_pct'], 1)} "
                f"({r['curve_frames']}) | {_num(r['pearson_r'], 2)} | {_num(r['r2'], 2)} "
                f"| {_num(r['mae'], 3)} ({_num(r['mae_mean_baseline'], 3)}) |")
        if replay:
            line += (f" {_num(r.get('replay_autonomy_pct'), 1)} ({r.get('replay_interventions', '-')} in "
                     f"{_num(r.get('replay_elapsed_s'), 0)}) |")
        lines.append(line)
    return "\n".join(lines) + "\n"
