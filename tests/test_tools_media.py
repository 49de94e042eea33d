"""data_tools augment-preview, video and saliency, plus the CLI surface of every tool."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_tools import augment_preview, crops, saliency, video
from data_tools.video import draw_steering
from steering.data.synthetic import SyntheticRow, write_log_file, write_recording

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("merge", "clean", "stats", "balance", "augment_preview", "video", "saliency", "crops")


def recording(folder: Path, n: int, steering: float = 0.25) -> Path:
    lines = write_recording(folder, [SyntheticRow(steering=steering) for _ in range(n)],
                            first_time=datetime(2024, 5, 1, 12, 0, 0))
    return write_log_file(folder / "driving_log.csv", lines)


def read_video(path: Path) -> tuple[int, tuple[int, int]]:
    """(frames decoded, (width, height)) by actually reading the file back."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    count, size = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count += 1
        size = (frame.shape[1], frame.shape[0])
    capture.release()
    return count, size


# ---------------------------------------------------------------------------------------------- CLI surface


@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_has_help(name, capsys):
    module = __import__(f"data_tools.{name}", fromlist=["main"])
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: steering-" in capsys.readouterr().out


def test_python_dash_m_runs_a_tool():
    result = subprocess.run([sys.executable, "-m", "data_tools.merge", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--out" in result.stdout


def test_console_entry_points_name_each_tool():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = dict(
        line.split("=", 1) for line in config["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    scripts = {k.strip(): v.strip() for k, v in scripts.items()}
    for name in TOOLS:
        assert scripts[f"steering-{name.replace('_', '-')}"] == f"data_tools.{name}:main"


def test_a_missing_log_is_an_error_exit_not_a_traceback(tmp_path, capsys):
    assert augment_preview.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.png")]) == 2
    assert "no such log file or recording folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- augment-preview


@pytest.mark.parametrize("n, size", [(16, (1024, 608)), (6, (768, 304))])
def test_augment_preview_writes_a_grid_of_the_expected_size(windows_log, tmp_path, n, size):
    # preview_grid: ceil(sqrt(n)) columns of 3.2 in and rows of 1.9 in, at 80 dpi.
    out = tmp_path / "grid.png"
    assert augment_preview.main([str(windows_log), "--out", str(out), "--n", str(n), "--cameras", "all"]) == 0
    image = cv2.imread(str(out))
    assert (image.shape[1], image.shape[0]) == size


# ---------------------------------------------------------------------------------------------- video


def test_video_of_a_recording_has_every_frame_at_frame_size(tmp_path):
    log_file = recording(tmp_path / "lap", 12)
    out = tmp_path / "lap.mp4"
    assert video.main([str(log_file.parent), "--out", str(out), "--fps", "10", "--no-progress"]) == 0
    assert read_video(out) == (12, (320, 160))


def test_video_of_a_bare_frames_folder_with_scale_and_every(tmp_path):
    recording(tmp_path / "lap", 12)
    frames = tmp_path / "frames"
    shutil.copytree(tmp_path / "lap" / "IMG", frames)  # center_, left_ and right_ frames, no log
    out = tmp_path / "frames.mp4"
    assert video.main([str(frames), "--out", str(out), "--every", "2", "--scale", "2", "--no-progress"]) == 0
    assert read_video(out) == (6, (640, 320)), "center frames only, every second one, doubled"


def test_video_overlays_true_and_predicted_steering(tmp_path, make_checkpoint):
    log_file = recording(tmp_path / "lap", 5, steering=-0.5)
    out = tmp_path / "overlay.mp4"
    assert video.main([str(log_file), "--out", str(out), "--overlay", "true", "--model", str(make_checkpoint()),
                       "--no-progress"]) == 0
    assert read_video(out) == (5, (320, 160))


def test_video_real_log(windows_log, tmp_path):
    out = tmp_path / "real.mp4"
    assert video.main([str(windows_log), "--out", str(out), "--every", "25", "--overlay", "true", "--no-progress"]) == 0
    assert read_video(out) == (10, (320, 160))


def test_overlay_true_needs_a_log(tmp_path, capsys):
    recording(tmp_path / "lap", 2)
    assert video.main([str(tmp_path / "lap" / "IMG"), "--out", str(tmp_path / "x.mp4"), "--overlay", "true"]) == 2
    assert "needs a log" in capsys.readouterr().err


def test_steering_gauge_marks_left_of_centre_for_left_steering():
    frame = np.zeros((160, 320, 3), np.uint8)
    drawn = draw_steering(frame, true=-1.0, predicted=None)
    green = (drawn[..., 1] > 150) & (drawn[..., 0] < 120)
    rows, cols = np.nonzero(green[100:])  # the gauge, below the text
    assert cols.size and cols.max() < 160, "a full-left marker sits in the left half"


# ---------------------------------------------------------------------------------------------- saliency


@pytest.mark.parametrize("method", ["vbp", "gradcam"])
def test_saliency_writes_one_overlay_per_frame_and_an_mp4(tmp_path, make_checkpoint, method):
    log_file = recording(tmp_path / "lap", 5)
    out, mp4 = tmp_path / "overlays", tmp_path / "saliency.mp4"
    assert saliency.main([str(make_checkpoint("pilotnet")), str(log_file), "--out", str(out), "--mp4", str(mp4),
                          "--method", method, "--batch-size", "2", "--no-progress"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 5
    assert pngs[0].name.startswith("00000_center_")
    assert cv2.imread(str(pngs[0])).shape == (160, 320, 3)
    assert read_video(mp4) == (5, (320, 160))


def test_saliency_on_the_real_log(windows_log, tmp_path, make_checkpoint):
    # ResNet maps are covered in test_explain.py; here the real frames and the --every stride matter.
    out = tmp_path / "overlays"
    assert saliency.main([str(make_checkpoint("pilotnet")), str(windows_log.parent), "--out", str(out),
                          "--every", "50", "--method", "gradcam", "--no-progress"]) == 0
    assert len(list(out.glob("*.png"))) == 5


def test_saliency_needs_somewhere_to_write(tmp_path, make_checkpoint, capsys):
    assert saliency.main([str(make_checkpoint()), str(tmp_path)]) == 2
    assert "nothing to write" in capsys.readouterr().err


def test_crops_sheet_has_a_row_per_recording_and_exact_colour_statistics(tmp_path, capsys):
    # every frame of each recording one solid colour: the crops' mean is that colour and their spread 0
    logs = []
    for name, colour in (("dark", (10, 20, 30)), ("warm", (200, 100, 50))):
        lines = write_recording(tmp_path / name, [SyntheticRow(steering=0.0) for _ in range(6)],
                                frame=lambda row, seed, c=colour: np.full((160, 320, 3), c, np.uint8))
        logs.append(write_log_file(tmp_path / name / "driving_log.csv", lines))
    out = tmp_path / "crops.png"
    assert crops.main([str(p.parent) for p in logs] + ["--out", str(out), "--n", "3"]) == 0
    printed = capsys.readouterr().out
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * (66 + 4), 150 + 3 * (200 + 4), 3), "two rows of three 66x200 crops, 2 px borders"
    # the first crop of the second row, in BGR
    assert np.abs(sheet[70 + 30, 150 + 50].astype(int) - (50, 100, 200)).max() <= 2
    assert "| dark | 3 | 10.0, 20.0, 30.0 | 0.0, 0.0, 0.0 |" in printed
    assert "| warm | 3 | 200.0, 100.0, 50.0 | 0.0, 0.0, 0.0 |" in printed
