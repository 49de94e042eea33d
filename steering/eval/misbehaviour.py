"""Did the monitor warn in time? Failure prediction scored in the closed loop on the headless simulator.

    python -m steering.eval misbehaviour runs/x/best.pt --alarm autoencoder=ae.pt --alarm mc-dropout=mcd.pt \\
        --nominal lake --failing mountain challenge --out runs/misbehaviour

The model drives each track once through the real drive server (`steering.drive`, no `--on-alarm`: the
monitors only watch); a sink keeps every answered frame, and each monitor scores the same frames
afterwards, so all monitors see one drive. The failures are the evaluator's interventions
(`steering.eval.scoring`: off the road or no progress; the car is put back and drives on). Windows,
TP/FN/FP/TN and precision/recall/F1/F3 are `steering.monitors.misbehaviour`: TP/FN per failure, FP/TN
per window of the time away from failures (on every track, nominal or not). Files: misbehaviour.json,
misbehaviour.md (one table row per monitor), and per track a plot of each monitor's score over time
with its threshold and the failures marked.
"""
from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import torch  # noqa: E402

from steering.checkpoint import load_model  # noqa: E402
from steering.eval.config import EvalConfig  # noqa: E402
from steering.eval.evaluate import evaluate  # noqa: E402
from steering.monitors import AlarmMonitor, ScoreContext  # noqa: E402
from steering.monitors.misbehaviour import Outcome, score_alarms  # noqa: E402
from steering.preprocess import decode_jpeg, preprocess_frame  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MisbehaviourConfig:
    nominal: tuple[str, ...] = ("lake",)  # tracks the model was trained on: mostly false-alarm windows
    failing: tuple[str, ...] = ("mountain",)  # held-out tracks where it fails: the failures to predict
    laps: float = 1.0
    speed_mph: float | None = None  # None: drive.py's default target speed
    max_sim_s: float | None = None  # per track; None: the evaluator's limit
    min_lead_s: float = 1.0  # an alarm counts for a failure between max_lead and min_lead seconds before it
    max_lead_s: float = 3.0
    out_dir: Path | None = None
    progress: bool = True


@dataclass
class TrackRun:
    track: str
    nominal: bool
    times: np.ndarray  # (steps,) simulated seconds
    failures: list[float]  # intervention times
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # monitor -> (steps,)


class _Frames:
    """A sink that keeps every answered frame's JPEG (base64) for the monitors to score afterwards."""

    def __init__(self) -> None:
        self.images: list[str] = []

    def put(self, frame: Any) -> None:
        self.images.append(frame.image_base64)

    def close(self) -> None:
        pass


def drive_tracks(checkpoint: Path, config: MisbehaviourConfig) -> list[tuple[str, bool, np.ndarray, list[float],
                                                                             list[str]]]:
    """(track, nominal?, step times, failure times, frames) per track, from one in-process drive server."""
    # the drive server only here: eventlet stays out of everything that only imports the evaluator
    from steering.drive import ControlConfig, DriveConfig, TransportConfig, running_server

    control = ControlConfig() if config.speed_mph is None else ControlConfig(target_speed=config.speed_mph)
    frames = _Frames()
    runs = []
    with running_server([checkpoint], DriveConfig(transport=TransportConfig(port=0), control=control, stats_every=0),
                        sinks=[frames]) as server:
        for track, nominal in [*((t, True) for t in config.nominal), *((t, False) for t in config.failing)]:
            frames.images = []
            result = evaluate(None, EvalConfig(track=track, laps=config.laps, port=server.port,
                                               speed_mph=control.target_speed, max_sim_s=config.max_sim_s,
                                               progress=config.progress, label=checkpoint.name))
            times = np.array([step.time_s for step in result.drive.steps])
            images = frames.images
            if len(images) != len(times):  # lock step: one answered frame per applied step
                log.warning("%s: %d frames for %d steps; pairing the first of each", track, len(images), len(times))
                n = min(len(images), len(times))
                times, images = times[:n], images[:n]
            runs.append((track, nominal, times, [iv.time_s for iv in result.interventions], images))
            log.info("%s: %d steps, %d interventions", track, len(times), len(result.interventions))
    return runs


def score_run(images: Sequence[str], monitors: dict[str, AlarmMonitor], checkpoint: Path) -> dict[str, np.ndarray]:
    """Each monitor's score of each frame, with the context drive.py gives it (the model's input, fp32 prediction)."""
    model, pre = load_model(checkpoint)
    scores: dict[str, list[float]] = {name: [] for name in monitors}
    for image in images:
        frame = decode_jpeg(base64.b64decode(image))
        x = preprocess_frame(frame, pre)
        with torch.inference_mode():
            steering = float(model(x.unsqueeze(0))[0])
        ctx = ScoreContext(x, steering, pre)
        for name, monitor in monitors.items():
            scores[name].append(monitor.score(frame, ctx))
    return {name: np.array(values) for name, values in scores.items()}


def summarise(runs: Sequence[TrackRun], monitors: dict[str, AlarmMonitor], config: MisbehaviourConfig
              ) -> dict[str, dict[str, Any]]:
    """monitor -> metrics over all runs (and the outcome per track)."""
    table = {}
    for name, monitor in monitors.items():
        total, per_track = Outcome(), {}
        for run in runs:
            alarms = np.array([monitor.alarm(s) for s in run.scores[name]], dtype=bool)
            outcome = score_alarms(run.times, alarms, run.failures, config.min_lead_s, config.max_lead_s)
            per_track[run.track] = outcome.metrics()
            total = total + outcome
        table[name] = {**total.metrics(), "threshold": monitor.threshold, "tracks": per_track,
                       "frame_alarm_rate_nominal": _frame_alarm_rate(runs, monitor, name)}
    return table


def _frame_alarm_rate(runs: Sequence[TrackRun], monitor: AlarmMonitor, name: str) -> float:
    scores = [s for run in runs if run.nominal for s in run.scores[name]]
    return float(np.mean([monitor.alarm(s) for s in scores])) if scores else math.nan


def markdown(table: dict[str, dict[str, Any]], config: MisbehaviourConfig) -> str:
    def f(value: float, digits: int = 2) -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    lines = [f"Alarms {config.min_lead_s:g}-{config.max_lead_s:g} s before a failure; nominal tracks "
             f"{', '.join(config.nominal)}, failing tracks {', '.join(config.failing)}.", "",
             "| monitor | TP | FN | FP | TN | precision | recall | F1 | F3 | false alarms (windows) | "
             "alarms on nominal frames | mean lead s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in table.items():
        lines.append(f"| {name} | {m['tp']} | {m['fn']} | {m['fp']} | {m['tn']} | {f(m['precision'])} | "
                     f"{f(m['recall'])} | {f(m['f1'])} | {f(m['f3'])} | {f(m['false_alarm_rate'], 3)} | "
                     f"{f(m['frame_alarm_rate_nominal'], 3)} | {f(m['mean_lead_s'], 1)} |")
    return "\n".join(lines) + "\n"


def plot_run(run: TrackRun, monitors: dict[str, AlarmMonitor], path: Path) -> Path:
    fig, axes = plt.subplots(len(monitors), 1, figsize=(10, 2.2 * len(monitors)), sharex=True, squeeze=False)
    for ax, (name, monitor) in zip(axes[:, 0], monitors.items(), strict=False):
        ax.plot(run.times, run.scores[name], lw=0.8, label=f"{name} score")
        if math.isfinite(monitor.threshold):
            ax.axhline(monitor.threshold, color="tab:orange", lw=1, ls="--", label="threshold")
        for i, failure in enumerate(run.failures):
            ax.axvline(failure, color="tab:red", lw=1, label="failure" if i == 0 else None)
        ax.set_ylabel(name)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("simulated time (s)")
    fig.suptitle(f"{run.track}: monitor scores, {len(run.failures)} failures")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_misbehaviour(checkpoint: str | Path, monitors: dict[str, AlarmMonitor],
                     config: MisbehaviourConfig | None = None) -> dict[str, Any]:
    """Drive, score every monitor on the same frames, count alarms against failures; write the files."""
    config = config or MisbehaviourConfig()
    checkpoint = Path(checkpoint)
    runs = []
    for track, nominal, times, failures, images in drive_tracks(checkpoint, config):
        runs.append(TrackRun(track, nominal, times, failures, score_run(images, monitors, checkpoint)))
    table = summarise(runs, monitors, config)
    result = {"model": str(checkpoint), "config": {k: (str(v) if isinstance(v, Path) else v)
                                                   for k, v in asdict(config).items()},
              "monitors": {name: m.describe() for name, m in monitors.items()}, "table": table}
    if config.out_dir is not None:
        out = Path(config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "misbehaviour.json").write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
        (out / "misbehaviour.md").write_text(markdown(table, config), encoding="utf-8")
        for run in runs:
            plot_run(run, monitors, out / f"scores_{run.track}.png")
    return result


def add_command(commands: Any) -> None:
    """Register `misbehaviour` on `python -m steering.eval`'s sub-parsers."""
    parser = commands.add_parser(
        "misbehaviour", help="failure prediction: do the monitors (--alarm) warn 1-3 s before the car fails?",
        description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="checkpoint to drive")
    parser.add_argument("--alarm", action="append", required=True, metavar="NAME[=FILE]",
                        help="a monitor: its kind, and the file `python -m steering.monitors fit` wrote (needed for "
                             "the threshold); repeat for several")
    parser.add_argument("--nominal", nargs="*", default=["lake"], help="tracks the model drives well (default lake)")
    parser.add_argument("--failing", nargs="*", default=["mountain"], help="tracks where it fails (default mountain)")
    parser.add_argument("--laps", type=float, default=1.0)
    parser.add_argument("--speed", type=float, default=None, help="target speed in mph (default: drive.py's)")
    parser.add_argument("--max-sim-s", type=float, default=None, help="stop each track after this simulated time")
    parser.add_argument("--min-lead", type=float, default=1.0, help="earliest counted alarm, s before a failure")
    parser.add_argument("--max-lead", type=float, default=3.0, help="latest counted alarm, s before a failure")
    parser.add_argument("--out", type=Path, default=Path("runs/misbehaviour"))


def load_monitors(specs: Sequence[str], checkpoint: Path) -> dict[str, AlarmMonitor]:
    """`NAME` or `NAME=FILE` -> fitted monitors (without a file: scores only, no threshold)."""
    # function level: the steering.drive package loads the eventlet server, needed only when this command runs
    from steering.drive.alarm import AlarmConfig, load_alarm

    monitors = {}
    for spec in specs:
        name, _, file = spec.partition("=")
        monitors[name if name not in monitors else spec] = load_alarm(  # a second of one kind: by its file
            AlarmConfig(kind=name, file=Path(file) if file else None), [checkpoint])
    return monitors


def run_command(args: Any) -> int:
    config = MisbehaviourConfig(tuple(args.nominal), tuple(args.failing), args.laps, args.speed, args.max_sim_s,
                                args.min_lead, args.max_lead, args.out)
    result = run_misbehaviour(args.model, load_monitors(args.alarm, args.model), config)
    print(markdown(result["table"], config))
    print(f"written: {args.out}/misbehaviour.json, misbehaviour.md, scores_<track>.png")
    return 0
