"""bench/soak.py runs end to end on a tiny budget and its report section reads the results.
No timing is asserted: benchmarks are not tests."""
from __future__ import annotations

import pytest

from bench import report, soak


def test_growth_counts_from_the_first_sample_after_warm_up():
    samples = [{"frame": f, "t_s": 0.0, "rss_mb": rss, "threads": t, "fds": 10}
               for f, rss, t in ((0, 100.0, 9), (50, 140.0, 9), (100, 141.0, 10), (150, 146.0, 9), (200, 143.5, 9))]
    g = soak.growth(samples, warmup_frames=100)
    assert g["warmup_sample"]["frame"] == 100 and g["last_sample"]["frame"] == 200
    assert g["rss_growth_mb"] == pytest.approx(2.5) and g["rss_peak_growth_mb"] == pytest.approx(5.0)
    assert g["rss_warmup_growth_mb"] == pytest.approx(41.0)
    assert g["threads_change"] == -1 and g["threads_range"] == [9, 10] and g["fds_range"] == [10, 10]
    assert soak.growth(samples[:3], warmup_frames=100) == {"warmup_sample": None}


def test_tiny_soak_drives_every_frame_reconnects_and_stops_drive_py_with_sigterm():
    config = soak.SoakConfig(frames=300, reconnect_every=100, warmup_frames=100, sample_every=50, max_seconds=120,
                             decode_repeats=5)
    result = soak.run(config)
    assert result["frames_done"] == 300 and not result["stopped_early"]
    assert result["connections"] == 3 and result["bad_replies"] == 0
    assert result["server_exit"] == 0 and result["server_errors"] == "none", result["server_summary"]
    assert "steer 300" in result["server_summary"] and "connect 3" in result["server_summary"]
    assert [s["frame"] for s in result["samples"]] == [0, 50, 100, 150, 200, 250, 300]
    assert all(s["rss_mb"] > 50 and s["threads"] >= 2 and s["fds"] >= 3 for s in result["samples"])
    assert result["warmup_sample"]["frame"] == 100 and result["last_sample"]["frame"] == 300
    assert result["decode"]["pixels_identical"] is True
    assert {v["n"] for v in result["decode"]["variants"].values()} == {5}
    text = "\n".join(report.soak_section(result))
    assert "## 7. Soak through the wire" in text and "300 frames (" in text and "RSS growth after warm-up" in text
