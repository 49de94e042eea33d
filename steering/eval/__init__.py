"""Closed-loop evaluation: drive a model on the headless simulator through the wire and score it.

Where things live: `scoring.py` (PilotNet interventions and autonomy, pure functions), `config.py`
(EvalConfig), `report.py` (EvalReport, markdown table), `plots.py` (trajectory and comparison PNGs),
`video.py` (the MP4 step observer), `evaluate.py` (one drive: server, client, observers, files),
`compare.py` (several models x tracks), `cli.py` (`python -m steering.eval evaluate|compare`),
`dagger.py` + `dagger_cli.py` (DAgger with the simulator's expert: `python -m steering.sim dagger`).
Dependencies run one way: scoring <- config <- report <- plots <- evaluate <- compare <- cli.
"""
from steering.eval.config import EvalConfig
from steering.eval.evaluate import EvalResult, StepObserver, drive_locally, evaluate
from steering.eval.report import EvalReport, markdown_table, read_report
from steering.eval.scoring import InterventionConfig, autonomy_percent

__all__ = ["EvalConfig", "EvalReport", "EvalResult", "InterventionConfig", "StepObserver", "autonomy_percent",
           "drive_locally", "evaluate", "markdown_table", "read_report"]
