"""Renders the frames the accuracy gate ships (`steering/inference/gate_frames/`) with the headless simulator.

The gate (`steering.inference.gate`) compares a faster runtime's steering with eager fp32 on the
checkpoint's training frames, or on these when those logs are gone. Run it again only to change them:
`python -m steering.sim.gate_frames`.
"""
from __future__ import annotations

from pathlib import Path

from steering.inference.gate import SHIPPED
from steering.preprocess import encode_jpeg
from steering.sim.world import World, WorldConfig


def write_shipped_frames(folder: Path = SHIPPED, quality: int = 75) -> list[Path]:
    """Render the shipped gate frames: the headless simulator at 8 places on two tracks, some off-centre."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    places = [("lake", 0.10, 0.0, 0.0), ("lake", 0.30, 1.5, 0.15), ("lake", 0.55, -1.5, -0.15),
              ("lake", 0.80, 0.5, 0.3), ("mountain", 0.05, 0.0, 0.0), ("mountain", 0.35, 1.0, -0.2),
              ("mountain", 0.60, -1.0, 0.2), ("mountain", 0.85, 0.0, -0.3)]
    for i, (track, fraction, offset, heading) in enumerate(places):
        world = World(WorldConfig(track=track))
        world.reset(progress_m=fraction * world.track.length_m, offset_m=offset, heading_error=heading)
        path = folder / f"{i:02d}_{track}.jpg"
        path.write_bytes(encode_jpeg(world.render("center"), quality))
        written.append(path)
    return written


if __name__ == "__main__":  # python -m steering.sim.gate_frames
    for written_path in write_shipped_frames():
        print(written_path)
