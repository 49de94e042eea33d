"""Style randomisation (domain randomisation) for recordings: the same centre line in a new look.

`random_spec` keeps a track's geometry and where its bridges, run-offs, width changes and roadside
objects are, and draws new asphalt, ground, line, curb and sky colours, new bridge deck and wall
colours, new `Light` sections (sun brightness and colour) and new `Shadows` sections (how many, how
dense, how dark), all within ranges where the road stays clearly visible. The recorder draws one per lap from
`numpy.random.default_rng([seed, lap])`, so a recording is reproducible from its seed.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from steering.sim.tracks import Track
from steering.sim.tracks.spec import Bridge, Light, Shadows, TrackSpec, TrackStyle

GROUNDS = ((150, 120, 80), (95, 120, 60), (120, 110, 100), (60, 85, 45), (170, 150, 110), (110, 130, 75),
           (135, 95, 70))  # dirt, grass, gravel, forest, sand, meadow, clay
MIN_CONTRAST = 18  # mean brightness between asphalt and ground


def _jitter(rng: np.random.Generator, colour, amount: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(colour) + rng.uniform(-amount, amount, 3), 0, 255))


def _maybe(rng: np.random.Generator, p_none: float, colour):
    return None if rng.random() < p_none else colour


def random_style(rng: np.random.Generator) -> TrackStyle:
    """Colours within sane ranges: grey asphalt 55..135, earthy grounds, yellow or white lines, blue skies."""
    for _ in range(20):
        grey = rng.uniform(55, 135)
        asphalt = _jitter(rng, (grey, grey, grey + 3), 6)
        ground = _jitter(rng, GROUNDS[rng.integers(len(GROUNDS))], 20)
        if abs(np.mean(asphalt) - np.mean(ground)) >= MIN_CONTRAST:
            break
    yellow, white = _jitter(rng, (215, 190, 40), 20), _jitter(rng, (232, 232, 228), 12)
    sky = rng.uniform(0.75, 1.1)
    return TrackStyle(
        asphalt=asphalt,
        ground=ground,
        ground_alt=_jitter(rng, GROUNDS[rng.integers(len(GROUNDS))], 20),
        edge_line=_maybe(rng, 0.15, yellow if rng.random() < 0.5 else white),
        centre_line=_maybe(rng, 0.6, white if rng.random() < 0.6 else yellow),
        curb_a=_maybe(rng, 0.5, _jitter(rng, (200, 40, 40), 30)),
        curb_b=_jitter(rng, (235, 235, 235), 15),
        shoulder=_maybe(rng, 0.5, _jitter(rng, (190, 190, 185), 20)),
        sky_top=tuple(int(v) for v in np.clip(np.asarray(_jitter(rng, (70, 120, 200), 25)) * sky, 0, 255)),
        sky_horizon=_jitter(rng, (180, 200, 225), 25),
        hills=_jitter(rng, (75, 95, 70), 25),
        hill_height_deg=float(rng.uniform(3, 16)),
    )


def _ranges(
    rng: np.random.Generator, length_m: float, count: int, low_m: float, high_m: float
) -> list[tuple[float, float]]:
    """`count` stretches of `low_m`..`high_m` metres at random places on a lap of `length_m`."""
    spans = []
    for _ in range(count):
        start = float(rng.uniform(0, length_m))
        span = float(min(rng.uniform(low_m, high_m), 0.6 * length_m))  # a short lap keeps some plain road
        spans.append((round(start, 1), round((start + span) % length_m, 1)))
    return spans


def random_lighting(rng: np.random.Generator, length_m: float) -> tuple[Light | Shadows, ...]:
    """0-3 light sections (brightness 0.6-1.25, warm or cool) and 0-3 shadow sections (density, darkness)."""
    sections: list[Light | Shadows] = []
    for start, end in _ranges(rng, length_m, int(rng.integers(0, 4)), 40, 150):
        warm = rng.random() < 0.5
        colour = ((255, int(255 - rng.uniform(0, 50)), int(255 - rng.uniform(0, 90))) if warm
                  else (int(255 - rng.uniform(0, 40)), int(255 - rng.uniform(0, 20)), 255))
        sections.append(
            Light(from_m=start, to_m=end, brightness=round(float(rng.uniform(0.6, 1.25)), 3), colour=colour)
        )
    for start, end in _ranges(rng, length_m, int(rng.integers(0, 4)), 30, 100):
        sections.append(
            Shadows(
                from_m=start,
                to_m=end,
                caster="tree" if rng.random() < 0.6 else "pole",
                side=("left", "right", "both")[int(rng.integers(3))],
                spacing_m=round(float(rng.uniform(6, 20)), 1),
                length_m=round(float(rng.uniform(6, 16)), 1),
                darkness=round(float(rng.uniform(0.25, 0.6)), 3),
                angle_deg=round(float(rng.uniform(-40, 40)), 1),
                visible=bool(rng.random() < 0.7),
            )
        )
    return tuple(sections)


def random_bridge(rng: np.random.Generator, bridge: Bridge) -> Bridge:
    """The same bridge in another concrete, stone or timber look: deck grey 90..180, walls 100..200."""
    deck, wall = rng.uniform(90, 180), rng.uniform(100, 200)
    return dataclasses.replace(bridge, surface=_jitter(rng, (deck, deck * 0.96, deck * 0.9), 10),
                               wall=_jitter(rng, (wall, wall * 0.97, wall * 0.92), 10))


def random_spec(track: Track, rng: np.random.Generator) -> TrackSpec:
    """`track`'s spec with a random style, light, shadows and bridge look (geometry and other sections kept)."""
    style, lighting = random_style(rng), random_lighting(rng, track.length_m)  # drawn first: older seeds keep them
    kept = tuple(random_bridge(rng, s) if isinstance(s, Bridge) else s
                 for s in track.spec.sections if not isinstance(s, (Light, Shadows)))
    return dataclasses.replace(track.spec, style=style, sections=kept + lighting,
                               description=f"{track.spec.description} (random style)")


def random_track(track: Track, seed: int, lap: int) -> Track:
    """The randomised look of `track` for lap `lap` of a recording seeded `seed`."""
    return Track(random_spec(track, np.random.default_rng([seed, lap])))
