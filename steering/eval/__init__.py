"""Closed-loop evaluation: drive a model on the headless simulator through the wire and score it.

Where things live: `scoring.py` (PilotNet interventions and autonomy, pure functions), `config.py`
(EvalConfig), `report.py` (EvalReport, markdown table), `plots.py` (trajectory and comparison PNGs),
`video.py` (the MP4 step observer), `evaluate.py` (one drive: server, client, observers, files),
`compare.py` (several models x tracks), `cli.py` (`python -m steering.eval`, one registry of commands:
evaluate, compare, suite here; `offline_cli.py`, `robustness_cli.py` and `steering/replay/cli.py` beside
it, sharing `cli_args.py`), `metrics.py` (direction confusion and per-bin error), `robustness.py`,
`dagger.py` + `dagger_cli.py` (DAgger with the simulator's expert: `python -m steering.sim dagger`).
Open loop, no simulator: `offline.py` runs models on recorded frames, scored by `offline_metrics.py`,
drawn by `offline_plots.py`, tabled by `offline_report.py`.
Dependencies run one way: scoring <- config <- report <- plots <- evaluate <- compare <- cli.
"""
from steering.eval.config import EvalConfig
from steering.eval.evaluate import EvalResult, StepObserver, drive_locally, evaluate
from steering.eval.report import EvalReport, markdown_table, read_report
from steering.eval.scoring import InterventionConfig, autonomy_percent

__all__ = ["EvalConfig", "EvalReport", "EvalResult", "InterventionConfig", "StepObserver", "autonomy_percent",
           "drive_locally", "evaluate", "markdown_table", "read_report"]
