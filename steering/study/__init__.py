"""The study: backbones x transfer strategies x pretrained vs scratch, offline metrics and closed-loop scores.

    python -m steering.study --out runs/study           # the full plan on the demo's recording
    python -m steering.study --quick --out runs/quick   # two cheap entries: checks that it all runs

One module per job: `plan` (the entries and their budget rule), `config` (the shared budget and
data), `run` (train, analyse with `steering.eval.metrics`, time, drive; resumable), `report`
(study.md, study.json, PNGs). Results measured with it are in docs/study.md.
"""
from steering.study.config import StudyConfig
from steering.study.plan import StudyEntry, full_plan, quick_plan
from steering.study.run import StudyResult, run_study

__all__ = ["StudyConfig", "StudyEntry", "StudyResult", "full_plan", "quick_plan", "run_study"]
