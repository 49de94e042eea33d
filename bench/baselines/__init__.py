"""Baselines the benchmarks measure `steering` against; never used to drive.

- `naive_drive`: the classic Udacity `drive.py` per-frame path (the "classic P3 path"), as a
  `NaiveDriver` for in-process timing and, run as `python -m bench.baselines.naive_drive`, as its
  classic python-socketio server;
- `legacy_drive`: drive.py with eventlet's own socket handling (`steering.drive.udacity.wire` taken out).
"""
