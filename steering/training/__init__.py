"""Training: transfer strategies, the epoch loop, the frozen-feature cache, resume and torchrun.

`train(TrainConfig(...))` is what `python train.py` calls. The parts, one job per module:
config (TrainConfig, YAML), strategies (the strategy registry, phases, parameter groups), loop (one
epoch, validation), feature_cache, phase_runner (what a phase trains on: images or cached features),
metrics, plots, seeding (seeds, RNG states), distributed (torchrun), data_setup (logs -> datasets via
steering.data), model_setup (the starting model, built before any data is read), run (the whole run
and its folder, step by step).
"""
from steering.training.config import ConfigError, TrainConfig, load_config_file
from steering.training.data_setup import DataBundle
from steering.training.loop import NonFiniteLossError
from steering.training.run import TrainResult, fit, train

__all__ = ["ConfigError", "DataBundle", "NonFiniteLossError", "TrainConfig", "TrainResult", "fit",
           "load_config_file", "train"]
