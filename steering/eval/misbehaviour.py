"""Did the monitor warn in time? Failure prediction scored in the closed loop on the headless simulator.

    python -m steering.eval misbehaviour runs/x/best.pt --alarm autoencoder=ae.pt --alarm mc-dropout=mcd.pt \\
        --nominal lake --failing mountain challenge --out runs/misbehaviour
    python -m steering.eval misbehaviour runs/x/best.pt --alarm autoencoder=ae.pt --failing mountain \\
        --perturb night:5 --on-alarm slow          # failing laps under night:5; then act on the alarms

The model drives each leg once (`steering.eval.alarm_drive`: the nominal tracks clean, the failing ones
under `--perturb`/`--perturb-schedule` when given; lock step unless `--realtime`) through the real drive
server with no monitor in it (the monitors only watch); a sink keeps every answered frame, and each
monitor scores the same frames afterwards, so all monitors see one drive. The failures are the
evaluator's interventions (`steering.eval.scoring`: off the road or no progress; the car is put back and
drives on). Windows, TP/FN/FP/TN and precision/recall/F1/F3 are `steering.monitors.misbehaviour`: TP/FN
per failure, FP/TN per window of the time away from failures, over every leg and over the nominal legs
alone. With `--on-alarm slow|stop` every failing leg is driven again once per thresholded monitor, that
monitor in the server and the controller acting on its alarms (drive.py `--alarm --on-alarm`), at the
threshold its file was fitted with: interventions with and without acting, under the same perturbations.
Files: misbehaviour.json, misbehaviour.md (one table row per monitor, and the acting table), scores.npz (every
frame's score), and per leg a plot of each monitor's score over time with its threshold and the failures marked.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from steering.checkpoint import load_model  # noqa: E402
from steering.eval.alarm_drive import DrivenLeg, Leg, acting_row, control_config, drive_legs  # noqa: E402
from steering.eval.cli_args import add_perturb_arguments, perturb_plan  # noqa: E402
from steering.eval.config import EvalConfig  # noqa: E402
from steering.monitors import AlarmMonitor, ScoreContext  # noqa: E402
from steering.monitors.misbehaviour import Outcome, score_alarms  # noqa: E402
from steering.perturb import PerturbPlan  # noqa: E402
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
    # camera perturbations of the failing tracks only (the nominal ones stay clean): where a model that
    # drives every clean track still fails
    perturb: PerturbPlan = field(default_factory=PerturbPlan)
    # "slow"/"stop": also drive every failing track once per thresholded monitor with that monitor in the
    # drive server acting on its alarms (drive.py --on-alarm), beside the watching drive's interventions
    on_alarm: str = "none"
    alarm_slow: float | None = None  # --on-alarm slow's share of the target speed; None: drive.py's default
    pacing: str = "fixed"  # lock step (one 1/15 s step per reply): the same drive on a busy machine
    seed: int = 0

    def legs(self) -> list[Leg]:
        return [*(Leg(t, True) for t in self.nominal), *(Leg(t, False, self.perturb) for t in self.failing)]

    def eval_config(self) -> EvalConfig:
        return EvalConfig(laps=self.laps, speed_mph=self.speed_mph, max_sim_s=self.max_sim_s, pacing=self.pacing,
                          seed=self.seed, progress=self.progress)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: paths and the perturbations as text."""
        return {f.name: (str(v) if isinstance(v, (Path, PerturbPlan)) else v)
                for f in fields(self) for v in [getattr(self, f.name)]}


@dataclass
class TrackRun:
    leg: Leg
    times: np.ndarray  # (steps,) simulated seconds
    failures: list[float]  # intervention times
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # monitor -> (steps,)

    @property
    def nominal(self) -> bool:
        return self.leg.nominal


def score_run(images: Sequence[str], monitors: dict[str, AlarmMonitor], checkpoint: Path, label: str = "",
              progress: bool = False) -> dict[str, np.ndarray]:
    """Each monitor's score of each frame, with the context drive.py gives it (the model's input, fp32 prediction)."""
    model, pre = load_model(checkpoint)
    scores: dict[str, list[float]] = {name: [] for name in monitors}
    for image in tqdm(images, desc=f"scoring {label}", unit="frame", disable=not progress, leave=False):
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
    """monitor -> metrics over all runs, the false-alarm rate over the nominal runs' windows alone, and per leg."""
    table = {}
    for name, monitor in monitors.items():
        total, nominal, per_leg = Outcome(), Outcome(), {}
        for run in runs:
            alarms = np.array([monitor.alarm(s) for s in run.scores[name]], dtype=bool)
            outcome = score_alarms(run.times, alarms, run.failures, config.min_lead_s, config.max_lead_s)
            per_leg[run.leg.label] = outcome.metrics()
            total = total + outcome
            nominal = nominal + outcome if run.nominal else nominal
        table[name] = {**total.metrics(), "threshold": monitor.threshold, "tracks": per_leg,
                       "false_alarm_rate_nominal": nominal.metrics()["false_alarm_rate"],
                       "frame_alarm_rate_nominal": _frame_alarm_rate(runs, monitor, name)}
    return table


def _frame_alarm_rate(runs: Sequence[TrackRun], monitor: AlarmMonitor, name: str) -> float:
    scores = [s for run in runs if run.nominal for s in run.scores[name]]
    return float(np.mean([monitor.alarm(s) for s in scores])) if scores else math.nan


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def markdown(table: dict[str, dict[str, Any]], config: MisbehaviourConfig,
             acting: Sequence[dict[str, Any]] = ()) -> str:
    failing = ", ".join(config.failing) + (f" under {config.perturb}" if config.perturb else "")
    lines = [f"Alarms {config.min_lead_s:g}-{config.max_lead_s:g} s before a failure; nominal tracks "
             f"{', '.join(config.nominal)} (clean), failing tracks {failing}.", "",
             "| monitor | TP | FN | FP | TN | precision | recall | F1 | F3 | false alarms (windows, all) | "
             "false alarms (windows, nominal) | alarms on nominal frames | mean lead s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in table.items():
        lines.append(f"| {name} | {m['tp']} | {m['fn']} | {m['fp']} | {m['tn']} | {_f(m['precision'])} | "
                     f"{_f(m['recall'])} | {_f(m['f1'])} | {_f(m['f3'])} | {_f(m['false_alarm_rate'], 3)} | "
                     f"{_f(m['false_alarm_rate_nominal'], 3)} | {_f(m['frame_alarm_rate_nominal'], 3)} | "
                     f"{_f(m['mean_lead_s'], 1)} |")
    if acting:
        lines += ["", f"Failing tracks driven again with each monitor in the drive server acting on its alarms "
                      f"(--on-alarm {config.on_alarm}); `(watching)` = the drive above, no monitor in the server.", "",
                  "| monitor | on alarm | track | interventions | autonomy % | mean speed mph | frames alarmed | "
                  "simulated s |", "|---|---|---|---|---|---|---|---|"]
        for row in acting:
            lines.append(f"| {row['monitor']} | {row['on_alarm']} | {row['leg']} | {row['interventions']} | "
                         f"{row['autonomy_pct']:.1f} | {row['mean_speed_mph']:.1f} | {_f(row['frames_alarmed'], 3)} | "
                         f"{row['elapsed_s']:.1f} |")
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
    fig.suptitle(f"{run.leg.label}: monitor scores, {len(run.failures)} failures")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_scores(runs: Sequence[TrackRun], path: Path) -> Path:
    """Every leg's step times, failure times and per-monitor scores (`<leg>__times`, `<leg>__failures`,
    `<leg>__<monitor>`): other thresholds and leads can be scored again without driving again."""
    arrays = {}
    for run in runs:
        arrays[f"{run.leg.slug}__times"] = run.times
        arrays[f"{run.leg.slug}__failures"] = np.asarray(run.failures, dtype=np.float64)
        arrays.update({f"{run.leg.slug}__{name}": values for name, values in run.scores.items()})
    np.savez_compressed(path, **arrays)
    return path


def act_on_alarms(checkpoint: Path, monitors: dict[str, AlarmMonitor], watched: Sequence[DrivenLeg],
                  config: MisbehaviourConfig, control: Any) -> list[dict[str, Any]]:
    """Interventions on each failing leg without (the watching drive) and with each monitor acting on its alarms.

    Same legs, seed and perturbations as the watching drive, so the frames match until the first alarm acts.
    A monitor without a threshold (no fitted file) never alarms and is left out."""
    failing = [d for d in watched if not d.leg.nominal]
    rows = [acting_row(d, "(watching)", "none") for d in failing]
    for name, monitor in monitors.items():
        if not math.isfinite(monitor.threshold):
            log.warning("%s has no threshold (no fitted file): it cannot act, left out of --on-alarm", name)
            continue
        for driven in drive_legs(checkpoint, [d.leg for d in failing], config.eval_config(), alarm=monitor,
                                 control=control):
            rows.append(acting_row(driven, name, config.on_alarm))
    return rows


def run_misbehaviour(checkpoint: str | Path, monitors: dict[str, AlarmMonitor],
                     config: MisbehaviourConfig | None = None) -> dict[str, Any]:
    """Drive, score every monitor on the same frames, count alarms against failures; with `config.on_alarm`,
    drive the failing legs again with each monitor acting; write the files."""
    config = config or MisbehaviourConfig()
    checkpoint = Path(checkpoint)
    # checked before the watching drive and the scoring, which take minutes to hours
    acting_control = control_config(config.speed_mph, config.on_alarm, config.alarm_slow)
    watched = drive_legs(checkpoint, config.legs(), config.eval_config())
    runs = [TrackRun(d.leg, d.times, d.failures,
                     score_run(d.images, monitors, checkpoint, d.leg.label, config.progress)) for d in watched]
    table = summarise(runs, monitors, config)
    acting = act_on_alarms(checkpoint, monitors, watched, config, acting_control) if config.on_alarm != "none" else []
    result = {"model": str(checkpoint), "config": config.to_dict(),
              "monitors": {name: m.describe() for name, m in monitors.items()}, "table": table,
              "legs": [{"track": d.leg.track, "label": d.leg.label, "nominal": d.leg.nominal,
                        "perturb": str(d.leg.perturb), "steps": len(d.times), "failures": d.failures,
                        "autonomy_pct": d.report.autonomy_pct} for d in watched],
              "acting": acting}
    if config.out_dir is not None:
        out = Path(config.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "misbehaviour.json").write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
        (out / "misbehaviour.md").write_text(markdown(table, config, acting), encoding="utf-8")
        save_scores(runs, out / "scores.npz")
        for run in runs:
            plot_run(run, monitors, out / f"scores_{run.leg.slug}.png")
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
    parser.add_argument("--failing", nargs="*", default=["mountain"],
                        help="tracks where it fails (default mountain); --perturb applies to these only")
    parser.add_argument("--laps", type=float, default=1.0)
    parser.add_argument("--speed", type=float, default=None, help="target speed in mph (default: drive.py's)")
    parser.add_argument("--max-sim-s", type=float, default=None, help="stop each track after this simulated time")
    parser.add_argument("--min-lead", type=float, default=1.0, help="earliest counted alarm, s before a failure")
    parser.add_argument("--max-lead", type=float, default=3.0, help="latest counted alarm, s before a failure")
    parser.add_argument("--on-alarm", default="none", metavar="slow|stop|none",
                        help="also drive each failing track once per monitor with that monitor acting on its alarms "
                             "(drive.py --on-alarm) and compare the interventions (default none: watch only)")
    parser.add_argument("--alarm-slow", type=float, default=None,
                        help="--on-alarm slow: the share of the target speed kept (default: drive.py's)")
    parser.add_argument("--realtime", dest="pacing", action="store_const", const="realtime", default="fixed",
                        help="the world moves by the server's measured round trip (default: lock step, the same "
                             "drive on a busy machine)")
    parser.add_argument("--seed", type=int, default=0, help="the world's textures and the perturbations' noise")
    parser.add_argument("--out", type=Path, default=Path("runs/misbehaviour"))
    add_perturb_arguments(parser)


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
                                args.min_lead, args.max_lead, args.out, perturb=perturb_plan(args),
                                on_alarm=args.on_alarm, alarm_slow=args.alarm_slow, pacing=args.pacing,
                                seed=args.seed)
    try:
        result = run_misbehaviour(args.model, load_monitors(args.alarm, args.model), config)
    except ValueError as exc:  # a bad --on-alarm or --alarm-slow (ControlConfig), a monitor file of another kind
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(result["table"], config, result["acting"]))
    print(f"written: {args.out}/misbehaviour.json, misbehaviour.md, scores_<track>.png")
    return 0
