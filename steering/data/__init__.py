"""Driving logs -> training samples: reading, camera samples, balancing, splits, augmentation, Dataset.

`read_logs` (reading.py) turns `driving_log.csv` files into rows with resolved frames;
`samples_from_log`, `balance`, `split_by_blocks` (sampling.py) make training samples;
`augment`/`preview_grid` (augment.py) alter frames with correct labels; `SteeringDataset` and
`make_loader` (dataset.py) feed a model through the one preprocessing in `steering.preprocess`;
`smoothing.py` gives each row's time and the steering averaged over a window in seconds.
"""
from steering.data.augment import AugmentConfig, augment, preview_grid
from steering.data.dataset import SteeringDataset, make_loader
from steering.data.logformat import write_log
from steering.data.reading import DrivingLog, DrivingLogError, LogReport, read_logs
from steering.data.sampling import BalanceReport, balance, samples_from_log, split_by_blocks
from steering.udacity import CAMERA_COLUMNS, LOG_COLUMNS, format_log_row

__all__ = [
    "AugmentConfig", "augment", "preview_grid",
    "SteeringDataset", "make_loader",
    "CAMERA_COLUMNS", "LOG_COLUMNS", "format_log_row", "write_log",
    "DrivingLog", "DrivingLogError", "LogReport", "read_logs",
    "BalanceReport", "balance", "samples_from_log", "split_by_blocks",
]
