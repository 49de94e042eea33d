"""A model as a steering function, without any server: what drive.py, the evaluators, export, the study and
bench share. Importing it loads neither eventlet nor Socket.IO.

Where things live:
- `predictor.py`  a checkpoint or exported file as `Predictor`: frame -> steering, with InferenceConfig;
- `ensemble.py`   several checkpoints and/or the mirrored frame as one steering function (`load_model`);
- `controls.py`   control models spelt as specs (`constant:0`, `delayed:K:a.pt`) that `load_model` loads;
- `gate.py`       the accuracy gate: which runtime steers (the fastest within 0.01 of eager fp32);
- `runtimes/`     one module per runtime behind a registry (each with the export format it writes);
- `exported.py`   exported model files (`python -m steering.export`) and their export records;
- `conversion_cache.py`  the hash-stamped ONNX conversions kept beside a checkpoint;
- `quantize.py`   int8 post-training static quantization; `cpu.py` what the CPU does in hardware.
"""
from steering.inference.ensemble import load_model
from steering.inference.predictor import InferenceConfig, Predictor

__all__ = ["InferenceConfig", "Predictor", "load_model"]
