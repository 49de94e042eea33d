"""The headless simulator: a wire- and disk-compatible stand-in for the Udacity Unity simulator.

- `tracks/`  the track registry (`get_track(NAME|PATH.json)`; a new track is one JSON file), the file format,
             the spec (centre line, road width, look, sections) and geometry (CTE > 0 = right of centre)
- `texture`  paints a track's top-down ground texture and sky panorama
- `render`   320x160 RGB frames from the car's center/left/right cameras (cv2.remap of the texture)
- `car`      kinematic bicycle with the Unity car's limits (`steering.udacity`: 25 degree lock, 30 mph)
- `world`    a car on a track: fixed-step stepping, CTE, progress, lap counting, rendering
- `expert`   pure-pursuit driver with injected drift-and-recover manoeuvres
- `recorder` writes `driving_log.csv` + `IMG/` exactly like the simulator's Record mode
- `client`   speaks the simulator's Socket.IO wire protocol to a drive server (e.g. drive.py)
- `session`  what a drive produced (commands applied, steps taken), scored by `steering.eval`

The simulator's own facts (numbers in each locale, frame names, socket) live in `steering.udacity`.

CLI: `python -m steering.sim record --track lake --laps 2 --out data/` (see `__main__.py`); its
`evaluate` and `compare` commands come from `steering.eval`.
"""
from steering.sim.car import Car, CarConfig, CarState
from steering.sim.expert import Expert, ExpertConfig
from steering.sim.render import CameraConfig, Renderer
from steering.sim.tracks import Track, get_track, list_tracks
from steering.sim.world import SIM_DT, StepInfo, World, WorldConfig
from steering.udacity import CAMERAS

__all__ = [
    "CAMERAS", "SIM_DT", "CameraConfig", "Car", "CarConfig", "CarState", "Expert", "ExpertConfig",
    "Renderer", "StepInfo", "Track", "World", "WorldConfig", "get_track", "list_tracks",
]
