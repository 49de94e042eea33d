"""Were the alarms early? Time-to-misbehaviour windows and the precision/recall of a monitor's alarms.

ThirdEye's rules (Stocco et al., TOSEM 2022), on one timeline of frames (times in seconds, an alarm flag
per frame) and the times its failures began:
- a failure is a true positive when an alarm was raised between `max_lead` and `min_lead` seconds before
  it (1-3 s by default: early enough to act, late enough to be about this failure), else a false negative;
- the rest of the timeline, away from every failure (from `max_lead` before it to `after` seconds after),
  is cut into windows of `max_lead - min_lead` seconds from its start: a window with an alarm is a false
  positive, one without is a true negative. Windows that cross a failure's surroundings are not counted.
- precision TP/(TP+FP), recall TP/(TP+FN), F1, F3 = TP/(TP + 0.1 FP + 0.9 FN) (recall weighs 9x: a
  missed failure costs more than a needless slow-down), false-alarm rate FP/(FP+TN), and the mean lead:
  failure time minus the first alarm in its window.
Where the timeline and failures come from (the headless simulator's interventions) is `steering.eval`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Outcome:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0
    leads: tuple[float, ...] = field(default_factory=tuple)  # seconds, one per true positive

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp, self.tn + other.tn,
                       self.leads + other.leads)

    def metrics(self) -> dict[str, Any]:
        """Counts and rates; a rate with an empty denominator is NaN (nothing to say), never 0."""
        def ratio(num: float, den: float) -> float:
            return num / den if den else math.nan

        precision, recall = ratio(self.tp, self.tp + self.fp), ratio(self.tp, self.tp + self.fn)
        f1 = ratio(2 * precision * recall, precision + recall) if not math.isnan(precision + recall) else math.nan
        return {**{k: v for k, v in asdict(self).items() if k != "leads"},
                "precision": precision, "recall": recall, "f1": f1,
                "f3": ratio(self.tp, self.tp + 0.1 * self.fp + 0.9 * self.fn),
                "false_alarm_rate": ratio(self.fp, self.fp + self.tn),
                "mean_lead_s": float(np.mean(self.leads)) if self.leads else math.nan}


def score_alarms(times: Sequence[float], alarms: Sequence[bool], failures: Sequence[float],
                 min_lead: float = 1.0, max_lead: float = 3.0, after: float | None = None) -> Outcome:
    """TP/FN per failure and FP/TN per nominal window of one timeline (see the module's rules).

    `times` ascending seconds, one per frame; `alarms` one flag per frame; `failures` the times failures
    began. `after` (default `max_lead`): seconds after a failure that are neither nominal nor counted.
    """
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(alarms, dtype=bool)
    if t.shape != a.shape:
        raise ValueError(f"times and alarms differ in length: {t.shape} vs {a.shape}")
    if not 0.0 <= min_lead < max_lead:
        raise ValueError(f"need 0 <= min_lead < max_lead, got {min_lead}, {max_lead}")
    if t.size == 0:
        return Outcome()
    after = max_lead if after is None else after
    tp = fn = 0
    leads = []
    for failure in failures:
        in_window = a & (t >= failure - max_lead) & (t <= failure - min_lead)
        if in_window.any():
            tp += 1
            leads.append(float(failure - t[in_window][0]))
        else:
            fn += 1
    width = max_lead - min_lead
    fp = tn = 0
    start = t[0]
    while start + width <= t[-1] + 1e-9:
        end = start + width
        # not nominal: overlaps [failure - max_lead, failure + after] of any failure
        if not any(start < f + after and end > f - max_lead for f in failures):
            if (a & (t >= start) & (t < end)).any():
                fp += 1
            else:
                tn += 1
        start = end
    return Outcome(tp, fn, fp, tn, tuple(leads))
