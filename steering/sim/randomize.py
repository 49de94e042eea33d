"""Style randomisation (domain randomisation) for recordings: the same centre line in a new look.

Two families of looks (`LOOKS`): `classic` and `lake`. `random_spec` (classic) keeps a track's geometry and
where its bridges, run-offs, width changes and roadside objects are, and draws new asphalt, ground, line,
curb and sky colours, new bridge deck and wall colours, new `Light` sections (sun brightness and colour) and
new `Shadows` sections (how many, how dense, how dark), all within ranges where the road stays clearly
visible. The recorder draws one per lap from `numpy.random.default_rng([seed, lap])`, so a recording is
reproducible from its seed.

`random_lake_spec` (lake) draws looks around the Unity simulator's lake track as its frames show it: no
centre line, yellow edge lines, red/white curbs on the curves, a pale shoulder, brighter and coarser-grained
asphalt, dry grass or sand verges, ponds beside parts of the road, tree lines and hillsides (tall walls)
beside it, a brick bridge between dark walls, and brighter light. With several families, laps take them in
turn (lap i: family i mod n), and a lap's look is drawn from `[seed, lap]` alone, so a classic lap looks the
same whatever else is mixed in.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from steering.sim.tracks import Track
from steering.sim.tracks.spec import Bridge, Light, Objects, Shadows, TrackSpec, TrackStyle

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


DRY_GROUNDS = ((175, 155, 105), (150, 140, 90), (120, 125, 70), (185, 170, 130), (100, 110, 60), (160, 130, 90))
# dry grass, straw, green grass, sand, dark grass, earth: the Unity lake's verges and slopes
HILLSIDES = ((170, 150, 110), (115, 125, 75), (140, 135, 125), (90, 105, 60))  # sand, grass, rock, scrub
CLEAR_OF_ROAD_M = 2.0  # trees and hillsides stay this far outside every part of the road


def random_lake_style(rng: np.random.Generator) -> TrackStyle:
    """The Unity lake's look: grey asphalt 105..170 with coarse grain, yellow edge lines, no centre line."""
    for _ in range(20):
        grey = rng.uniform(105, 170)
        asphalt = _jitter(rng, (grey, grey, grey * 0.97), 6)
        ground = _jitter(rng, DRY_GROUNDS[rng.integers(len(DRY_GROUNDS))], 20)
        if abs(np.mean(asphalt) - np.mean(ground)) >= MIN_CONTRAST:
            break
    return TrackStyle(
        asphalt=asphalt,
        asphalt_grain=round(float(rng.uniform(2.2, 4.0)), 2),
        ground=ground,
        ground_alt=_jitter(rng, DRY_GROUNDS[rng.integers(len(DRY_GROUNDS))], 20),
        edge_line=_jitter(rng, (225, 195, 45), 20),
        centre_line=None,
        curb_a=_maybe(rng, 0.1, _jitter(rng, (205, 45, 50), 25)),
        curb_b=_jitter(rng, (240, 240, 240), 12),
        shoulder=_maybe(rng, 0.25, _jitter(rng, (205, 205, 200), 20)),
        sky_top=_jitter(rng, (65, 115, 205), 25),
        sky_horizon=_jitter(rng, (185, 205, 230), 20),
        hills=_jitter(rng, HILLSIDES[rng.integers(len(HILLSIDES))], 25),
        hill_height_deg=float(rng.uniform(4, 16)),
        water=_maybe(rng, 0.3, _jitter(rng, (75, 120, 150), 25)),
    )


def _clear_of_road(track: Track, section: Objects, side: int, reach_m: float) -> bool:
    """Whether everything `reach_m` beyond the edge on `side` of the section stays clear of the whole road."""
    length = (section.to_m - section.from_m) % track.length_m
    idx = np.array([track.index_at(section.from_m + d) for d in np.arange(0, length, 5.0)])
    for beyond in (section.offset_m, reach_m):
        points = track.points[idx] + side * (track.widths[idx, None] / 2 + beyond) * track.normals_left[idx]
        gap = np.sqrt(((points[:, None, :] - track.points[None, ::8, :]) ** 2).sum(-1)).min(axis=1)
        if (gap < track.widths.max() / 2 + CLEAR_OF_ROAD_M).any():
            return False
    return True


def random_lake_scenery(rng: np.random.Generator, track: Track) -> tuple[Objects, ...]:
    """1-4 tree lines (2-14 m beyond the edge) and 1-3 hillsides (walls 3-12 m high, 8-30 m beyond)."""
    objects = []
    for start, end in _ranges(rng, track.length_m, int(rng.integers(1, 5)), 60, 250):
        side = ("left", "right", "both")[int(rng.integers(3))]
        objects.append(Objects(from_m=start, to_m=end, object="tree", side=side,
                               spacing_m=round(float(rng.uniform(5, 14)), 1),
                               offset_m=round(float(rng.uniform(2, 14)), 1),
                               height_m=round(float(rng.uniform(5, 10)), 1)))
    for start, end in _ranges(rng, track.length_m, int(rng.integers(1, 4)), 60, 200):
        side = ("left", "right")[int(rng.integers(2))]
        objects.append(Objects(from_m=start, to_m=end, object="wall", side=side, spacing_m=5.0,
                               offset_m=round(float(rng.uniform(8, 30)), 1),
                               height_m=round(float(rng.uniform(3, 12)), 1),
                               colour=_jitter(rng, HILLSIDES[rng.integers(len(HILLSIDES))], 20)))
    sides = {"left": (1,), "right": (-1,), "both": (1, -1)}
    return tuple(o for o in objects
                 if all(_clear_of_road(track, o, side, o.offset_m + 2.0) for side in sides[o.side]))


def random_lake_bridge(rng: np.random.Generator, bridge: Bridge) -> Bridge:
    """The Unity lake's bridge: reddish brick paving between dark walls."""
    return dataclasses.replace(bridge, surface=_jitter(rng, (145, 120, 105), 15), wall=_jitter(rng, (45, 45, 48), 15))


def random_lake_spec(track: Track, rng: np.random.Generator) -> TrackSpec:
    """`track`'s spec in a random variant of the Unity lake's look (geometry and its own sections kept)."""
    style = random_lake_style(rng)
    light = tuple(dataclasses.replace(s, brightness=round(0.95 + 0.35 * (s.brightness - 0.6) / 0.65, 3))
                  if isinstance(s, Light) else s for s in random_lighting(rng, track.length_m))  # 0.95..1.3: sunny
    kept = tuple(random_lake_bridge(rng, s) if isinstance(s, Bridge) else s
                 for s in track.spec.sections if not isinstance(s, (Light, Shadows, Objects)))
    return dataclasses.replace(track.spec, style=style, sections=kept + light + random_lake_scenery(rng, track),
                               description=f"{track.spec.description} (random lake look)")


LOOKS = {"classic": random_spec, "lake": random_lake_spec}


def random_track(track: Track, seed: int, lap: int, looks: tuple[str, ...] = ("classic",)) -> Track:
    """The randomised look of `track` for lap `lap` of a recording seeded `seed`, from one of `looks` (`LOOKS`)."""
    unknown = [name for name in looks if name not in LOOKS]
    if unknown or not looks:
        raise ValueError(f"unknown look {unknown or looks}; choose from {', '.join(LOOKS)}")
    name = looks[lap % len(looks)]  # in turn: a 5-lap mix always holds every family (a draw could give none)
    return Track(LOOKS[name](track, np.random.default_rng([seed, lap])))
