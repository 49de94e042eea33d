"""bench/soak.py's growth after warm-up, counted by hand (the soak itself runs in test_bench_smoke.py)."""
from __future__ import annotations

import pytest

from bench import soak


def test_growth_counts_from_the_first_sample_after_warm_up():
    samples = [soak.Sample(frame=f, t_s=0.0, rss_mb=rss, threads=t, fds=10)
               for f, rss, t in ((0, 100.0, 9), (50, 140.0, 9), (100, 141.0, 10), (150, 146.0, 9), (200, 143.5, 9))]
    g = soak.growth(samples, warmup_frames=100)
    assert g.warmup_sample.frame == 100 and g.last_sample.frame == 200
    assert g.rss_growth_mb == pytest.approx(2.5) and g.rss_peak_growth_mb == pytest.approx(5.0)
    assert g.rss_warmup_growth_mb == pytest.approx(41.0)
    assert g.threads_change == -1 and g.threads_range == (9, 10) and g.fds_range == (10, 10)
    assert soak.growth(samples[:3], warmup_frames=100) is None
