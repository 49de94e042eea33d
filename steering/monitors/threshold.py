"""The alarm threshold: a gamma distribution fitted to nominal scores, cut at a chosen false-alarm rate.

SelfOracle (Stocco et al., ICSE 2020) fits `scipy.stats.gamma` to the reconstruction errors of nominal
frames with the location fixed at 0 and alarms above the fit's (1 - rate) quantile; every monitor here
does the same with its own scores. The fit, not the empirical quantile, sets the threshold: with a few
hundred nominal frames the tail of the fit is steadier than the few largest samples.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

# Scores of exactly 0 (two identical predictions) have no gamma log-likelihood; they are moved to this
# fraction of the smallest positive score, which leaves the fit's shape and scale as they would be.
_ZERO_SHARE = 0.5


@dataclass(frozen=True)
class GammaFit:
    shape: float
    scale: float
    false_alarm_rate: float
    threshold: float  # the fit's (1 - false_alarm_rate) quantile

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GammaFit:
        return cls(**{k: float(v) for k, v in values.items()})


def gamma_threshold(scores: Sequence[float] | np.ndarray, false_alarm_rate: float = 0.05) -> GammaFit:
    """Fit a gamma (location 0) to non-negative `scores`; the threshold is its (1 - rate) quantile.

    Raises ValueError for a rate outside (0, 1), fewer than two scores, negative or non-finite scores.
    """
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.size < 2 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"a gamma fit needs at least two finite non-negative scores; got {values.size} "
                         f"(min {values.min() if values.size else 'none'})")
    positive = values[values > 0]
    if positive.size == 0:
        raise ValueError("every nominal score is 0: the monitor cannot tell frames apart (is it switched off?)")
    values = np.where(values > 0, values, positive.min() * _ZERO_SHARE)
    shape, _, scale = stats.gamma.fit(values, floc=0.0)
    threshold = float(stats.gamma.ppf(1.0 - false_alarm_rate, shape, loc=0.0, scale=scale))
    return GammaFit(float(shape), float(scale), float(false_alarm_rate), threshold)
