"""`python -m steering.sim record --randomize-style`: every lap of the recording gets another look."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from steering.preprocess import decode_jpeg
from steering.sim.__main__ import main


def _start_line_frames(folder) -> tuple[np.ndarray, np.ndarray]:
    """The center frames of lap 0 and lap 1 taken closest to the start line (the expert keeps to the centre)."""
    with open(folder / "sim_trace.csv", newline="") as handle:
        trace = [r for r in csv.DictReader(handle) if r["center"]]
    second = min((r for r in trace if r["laps"] == "1"), key=lambda r: float(r["progress_m"]))
    return tuple(decode_jpeg((folder / "IMG" / r["center"]).read_bytes()).astype(int) for r in (trace[0], second))


@pytest.mark.parametrize("randomize", [False, True])
def test_record_with_randomized_style_gives_each_lap_its_own_look(tmp_path, capsys, randomize):
    extra = ["--randomize-style"] if randomize else []
    code = main(["record", "--track", "oval", "--laps", "1.03", "--out", str(tmp_path), "--no-recoveries",
                 "--no-progress", "--start-time", "2024-01-01T12:00:00", *extra])
    assert code == 0
    assert ("2 random looks of oval (one per lap)" in capsys.readouterr().out) == randomize
    first, second = _start_line_frames(tmp_path)
    # The mean colour of the frame hardly depends on the car's exact pose, but does on the look.
    difference = np.abs(first.mean(axis=(0, 1)) - second.mean(axis=(0, 1))).max()
    if randomize:
        assert difference > 5, "another look: asphalt, ground, sky and light change colour"
    else:
        assert difference < 1, "the same look at the same place"
