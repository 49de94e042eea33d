"""Time-to-misbehaviour windows against a hand-made timeline."""
from __future__ import annotations

import math

import numpy as np
import pytest

from steering.monitors.misbehaviour import Outcome, score_alarms


def timeline(alarm_at):
    times = np.round(np.arange(0, 201) * 0.1, 1)  # 0.0 .. 20.0 s at 10 frames/s
    return times, np.isin(times, alarm_at)


def test_alarm_one_to_three_seconds_before_a_failure_is_a_true_positive_and_late_ones_miss():
    # failure at 10 s: window [7, 9] holds the alarm at 7.5 (lead 2.5 s); failure at 18 s: the alarm at
    # 17.5 is too late (window [15, 17]). Nominal time is [0, 7) and (13, 15): windows [0,2) [2,4) [4,6);
    # alarms at 3.0 and 5.0 make two of them false positives.
    times, alarms = timeline([3.0, 5.0, 7.5, 17.5])
    outcome = score_alarms(times, alarms, failures=[10.0, 18.0])
    assert (outcome.tp, outcome.fn, outcome.fp, outcome.tn) == (1, 1, 2, 1)
    assert outcome.leads == pytest.approx((2.5,))
    m = outcome.metrics()
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["f1"] == pytest.approx(0.4)  # 2 * (1/3 * 1/2) / (1/3 + 1/2)
    assert m["f3"] == pytest.approx(1 / 2.1)  # 1 / (1 + 0.1 * 2 + 0.9 * 1)
    assert m["false_alarm_rate"] == pytest.approx(2 / 3)
    assert m["mean_lead_s"] == pytest.approx(2.5)


def test_the_lead_window_is_configurable_for_each_time_to_misbehaviour():
    times, alarms = timeline([8.5])  # 1.5 s before the failure at 10
    assert score_alarms(times, alarms, [10.0], min_lead=1.0, max_lead=3.0).tp == 1
    assert score_alarms(times, alarms, [10.0], min_lead=2.0, max_lead=4.0).tp == 0
    assert score_alarms(times, alarms, [10.0], min_lead=0.0, max_lead=2.0).leads == pytest.approx((1.5,))


def test_a_nominal_lap_without_alarms_is_all_true_negatives_and_rates_without_events_are_nan():
    times, alarms = timeline([])
    outcome = score_alarms(times, alarms, failures=[])
    assert (outcome.tp, outcome.fn, outcome.fp, outcome.tn) == (0, 0, 0, 10)  # ten 2 s windows in 20 s
    m = outcome.metrics()
    assert m["false_alarm_rate"] == 0.0 and math.isnan(m["recall"]) and math.isnan(m["precision"])


def test_outcomes_of_several_runs_add_up():
    total = Outcome(1, 0, 2, 3, (2.0,)) + Outcome(0, 1, 1, 4, ())
    assert (total.tp, total.fn, total.fp, total.tn, total.leads) == (1, 1, 3, 7, (2.0,))
