"""NVIDIA's replay closed loop on recorded logs (Bojarski et al. 2016, arXiv 1604.07316, sections 5-6).

The recorded drive is the reference path; a model's steering moves a simulated car off it; the car sees
frames synthesised from the nearest recorded frame (`synthesis.py`: ground below the horizon, infinity above);
straying more than 1 m (or turning too far) is an intervention and the car is put back; autonomy is PilotNet's.

Modules, one job each: `camera.py` (the camera model), `synthesis.py` (homographies and the warp),
`bicycle.py` (the car), `reference.py` (the log as a reference path, split into segments), `frames.py`
(which recorded frame and camera to warp), `loop.py` (the closed loop and its interventions), `report.py`
(report.json, trajectory PNG, video), `fidelity.py` (synthesised vs true views in the headless simulator),
`rigs.py` (which simulator's car: camera rig and wheelbase), `validation.py` (replay against the headless
simulator's true closed loop: rank correlation, missed failures).
"""
