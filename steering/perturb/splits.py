"""Which perturbations training may use and which are kept for testing: `TRAINING` and `HELD_OUT`.

Split by ImageNet-C's own families (Hendrycks & Dietterich 2019, its 4 validation corruptions
included): noise and digital corruptions train, blur and weather are held out, so a robustness score
on `HELD_OUT` measures conditions of a different kind than any trained on, not memorised ones. The
renderer's effects are weather and need the simulator's depth (they cannot be applied to recorded
frames), so they are held out too. Every registered name is in exactly one of the two
(`check_splits`, and its test): a new perturbation has to be placed here.
"""
from __future__ import annotations

from steering.perturb.registry import get_perturbation, list_perturbations

NOISE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
DIGITAL = ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate")
BLUR = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur")
WEATHER = ("snow", "frost", "fog", "brightness", "spatter")
RENDERED = ("distance_fog", "night", "rain", "sun_glare")

# noise + digital train; blur + weather (image space and rendered) are never trained on
TRAINING: tuple[str, ...] = NOISE + DIGITAL
HELD_OUT: tuple[str, ...] = BLUR + WEATHER + RENDERED


def check_splits() -> None:
    """Raise ValueError unless TRAINING and HELD_OUT are disjoint, cover every registered name, and
    TRAINING holds only image-space corruptions (recorded frames have no depth)."""
    both = sorted(set(TRAINING) & set(HELD_OUT))
    unplaced = sorted(set(list_perturbations()) - set(TRAINING) - set(HELD_OUT))
    rendered = sorted(n for n in TRAINING if get_perturbation(n).needs_scene)
    problems = [f"in both sets: {', '.join(both)}" if both else "",
                f"in neither set: {', '.join(unplaced)}" if unplaced else "",
                f"renderer-only in the training set: {', '.join(rendered)}" if rendered else ""]
    if any(problems):
        raise ValueError("steering.perturb.splits: " + "; ".join(p for p in problems if p))
