"""Saliency: Grad-CAM with its sign and VisualBackProp, on a trained tiny PilotNet and on ResNet.

The trained model sees synthetic images where one thing sets the label: a bright vertical bar inside
a known box, whose x position is the steering (left edge of the box = -1, right edge = +1); the rest
of the image is low-amplitude noise. A saliency method that works must put its mass on that box.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from steering.explain import (
    frame_saliency,
    grad_cam,
    last_conv_stage,
    overlay,
    overlay_signed,
    saliency_to_frame,
    signed_grad_cam,
    stage_grids,
    stage_names,
    visual_backprop,
)
from steering.model import SteeringRegressor, capture_activations, create_model, default_preprocess
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH, PreprocessConfig

H, W = 66, 100  # PilotNet's input height; half its width keeps training on CPU to a few seconds
BOX_ROWS, BOX_COLS = (8, 58), (30, 70)  # the only region that carries the label
BAR_WIDTH = 3


def bar_images(
    gen: torch.Generator, n: int, positions: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, H, W) noise images with a bar at `positions` (left column) and its steering label."""
    x = torch.rand(n, 3, H, W, generator=gen) * 0.4 - 0.2
    if positions is None:
        positions = torch.randint(BOX_COLS[0], BOX_COLS[1] - BAR_WIDTH, (n,), generator=gen)
    for i, col in enumerate(positions.tolist()):
        x[i, :, BOX_ROWS[0]:BOX_ROWS[1], col:col + BAR_WIDTH] = 1.0
    centre, half = sum(BOX_COLS) / 2, (BOX_COLS[1] - BOX_COLS[0]) / 2
    steering = (positions.float() + BAR_WIDTH / 2 - centre) / half  # (n,) in [-1, 1]
    return x, steering


@pytest.fixture(scope="module")
def bar_model() -> SteeringRegressor:
    torch.manual_seed(0)
    model = create_model("pilotnet", preprocess=PreprocessConfig(height=H, width=W))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(80):
        x, y = bar_images(gen, 16)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def box_mask() -> torch.Tensor:
    mask = torch.zeros(H, W)
    mask[BOX_ROWS[0]:BOX_ROWS[1], BOX_COLS[0]:BOX_COLS[1]] = 1.0
    return mask


def test_tiny_pilotnet_learns_the_bar_position(bar_model):
    # Saliency of a model that has not learnt the task would prove nothing.
    x, y = bar_images(torch.Generator().manual_seed(1), 64)
    with torch.no_grad():
        mse = nn.functional.mse_loss(bar_model(x), y).item()
    assert mse < 0.1 * y.var().item(), f"validation MSE {mse:.4f} vs label variance {y.var().item():.4f}"


def test_visual_backprop_mass_concentrates_in_the_label_region(bar_model):
    x, _ = bar_images(torch.Generator().manual_seed(2), 64)
    maps = visual_backprop(bar_model, x)  # (64, H, W)
    mask = box_mask()
    area_fraction = mask.mean().item()  # 50*40 / (66*100) = 0.303
    assert area_fraction == pytest.approx(2000 / 6600)
    share = (maps * mask).sum(dim=(1, 2)) / maps.sum(dim=(1, 2))
    assert share.mean().item() > 2 * area_fraction, f"mean share in box {share.mean():.3f}, area {area_fraction:.3f}"
    assert share.min().item() > area_fraction, f"worst frame puts only {share.min():.3f} of its mass in the box"


def test_visual_backprop_peak_sits_on_the_bar(bar_model):
    positions = torch.tensor([32, 40, 50, 58, 65])
    x, _ = bar_images(torch.Generator().manual_seed(3), 5, positions)
    maps = visual_backprop(bar_model, x)
    rows = maps[:, BOX_ROWS[0]:BOX_ROWS[1]].sum(dim=1)  # (5, W): column profile inside the box
    peaks = rows.argmax(dim=1)
    bar_centres = positions + BAR_WIDTH // 2
    assert (peaks - bar_centres).abs().max().item() <= 4, f"peaks {peaks.tolist()} vs bars {bar_centres.tolist()}"


def test_grad_cam_sign_follows_the_steering_direction(bar_model):
    # Bars far left steer left (about -0.8), far right steer right (+0.8).
    positions = torch.tensor([31, 34, 63, 66])
    x, y = bar_images(torch.Generator().manual_seed(4), 4, positions)
    left, right = grad_cam(bar_model, x)
    left_mass, right_mass = left.sum(dim=(1, 2)), right.sum(dim=(1, 2))
    assert (y[:2] < -0.5).all() and (y[2:] > 0.5).all()
    assert (left_mass[:2] > right_mass[:2]).all(), f"left {left_mass[:2].tolist()} right {right_mass[:2].tolist()}"
    assert (right_mass[2:] > left_mass[2:]).all(), f"left {left_mass[2:].tolist()} right {right_mass[2:].tolist()}"


def linear_half_model(height: int = 8, width: int = 10) -> SteeringRegressor:
    """A hand-built regressor: steering = sum(right half) - sum(left half) of the channel mean.

    The flatten head gives every position its own weight, like PilotNet's: the exact case where
    Grad-CAM's averaged gradient cancels and the position-wise form stays exact.
    """
    conv = nn.Conv2d(3, 1, kernel_size=1, bias=False)
    head = nn.Linear(height * width, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1 / 3)
        sign = torch.ones(height, width)
        sign[:, : width // 2] = -1.0
        head.weight.copy_(sign.reshape(1, -1))
    backbone = nn.Sequential(OrderedDict([("conv1", nn.Sequential(conv)), ("flatten", nn.Flatten())]))
    return SteeringRegressor(backbone, head, stages=("conv1",))


def test_grad_cam_left_and_right_maps_are_exact_on_a_linear_model():
    model = linear_half_model()
    x = torch.full((2, 3, 8, 10), 0.5)
    x[1, :, :, 5:] = 2.0  # second frame: right half brighter -> steering right
    signed = signed_grad_cam(model, x)
    # Frame 0: each pixel contributes +-0.5, scaled to +-1. Frame 1: right 2.0, left -0.5 -> scaled 1 and -0.25.
    assert torch.allclose(signed[0, :, :5], torch.tensor(-1.0)) and torch.allclose(signed[0, :, 5:], torch.tensor(1.0))
    assert torch.allclose(signed[1, :, :5], torch.tensor(-0.25)) and torch.allclose(signed[1, :, 5:], torch.tensor(1.0))
    left, right = grad_cam(model, x)
    assert torch.equal(left[:, :, 5:], torch.zeros(2, 8, 5)) and torch.equal(right[:, :, :5], torch.zeros(2, 8, 5))
    assert torch.allclose(left[1, :, :5], torch.tensor(0.25))


def test_pooled_gradients_cancel_on_a_flatten_head():
    # Classic Grad-CAM averages the gradient over positions: +1 and -1 weights cancel to nothing.
    model = linear_half_model()
    signed = signed_grad_cam(model, torch.full((1, 3, 8, 10), 0.5), pool_gradients=True)
    assert torch.equal(signed, torch.zeros(1, 8, 10))


def test_saliency_leaves_model_mode_and_gradients_untouched(bar_model):
    bar_model.zero_grad(set_to_none=True)
    bar_model.train()
    try:
        signed_grad_cam(bar_model, torch.zeros(2, 3, H, W))
        visual_backprop(bar_model, torch.zeros(2, 3, H, W))
        assert bar_model.training, "the model's train/eval mode is restored"
        touched = [n for n, p in bar_model.named_parameters() if p.grad is not None]
        assert touched == [], f"saliency wrote .grad of {touched[:3]}"
    finally:
        bar_model.eval()


def test_pilotnet_stage_grid_matches_its_unpadded_convolutions():
    model = create_model("pilotnet")
    grids = stage_grids(model, stage_names(model))
    # conv1 (5x5, stride 2, no padding): cell 0 covers pixels 0..4 -> centre 2.5; conv5 adds up to
    # a stride of 8 and its first cell centred on pixel 30 (the receptive field is 61 pixels wide).
    assert (grids["backbone.conv1"].scale_x, grids["backbone.conv1"].offset_x) == (2.0, 2.5)
    assert (grids["backbone.conv5"].scale_x, grids["backbone.conv5"].offset_x) == (8.0, 30.5)


class _TwoBranches(nn.Module):
    """Inception-like: two strided branches side by side, concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.point = nn.Conv2d(3, 4, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.wide(x), self.point(x)], dim=1)


def test_stage_grid_follows_the_data_through_parallel_branches_not_the_registration_order():
    backbone = nn.Sequential(OrderedDict(branches=_TwoBranches(), conv=nn.Conv2d(8, 8, 3, stride=2, padding=1),
                                         pool=nn.AdaptiveAvgPool2d(1)))
    model = SteeringRegressor(backbone, nn.Sequential(nn.Flatten(), nn.Linear(8, 1)), stages=("conv", "branches"),
                              input_size=(16, 32))
    grids = stage_grids(model, ["backbone.branches", "backbone.conv"])
    # each branch halves the resolution once (cells centred on pixels 0, 2, 4, ... -> offset 0.5); the
    # conv after them halves it again: stride 4, not the 8 a walk over the layers in sequence would give
    assert (grids["backbone.branches"].scale_x, grids["backbone.branches"].offset_x) == (2.0, 0.5)
    assert (grids["backbone.conv"].scale_y, grids["backbone.conv"].scale_x, grids["backbone.conv"].offset_x) == (
        4.0, 4.0, 0.5)


@pytest.mark.parametrize("name", ["inception_v3", "xception"])
def test_last_stage_cells_of_branching_families_lie_on_the_image_at_stride_32(name):
    model = create_model(name, pretrained="none")
    stage = last_conv_stage(model)
    grid = stage_grids(model, [stage])[stage]
    with capture_activations(model.eval(), [stage]) as acts:
        model(torch.zeros(1, 3, *model.input_size))
    cells = acts[stage].shape[-1]
    last_centre = grid.scale_x * (cells - 1) + grid.offset_x
    assert grid.scale_x == 32.0, "five stride-2 steps"
    assert 0 <= grid.offset_x < last_centre < model.input_size[1], (grid, cells)


@pytest.mark.parametrize("name, last", [("pilotnet", "backbone.conv5"), ("resnet18", "backbone.layer4")])
def test_maps_have_input_shape_and_documented_ranges(name, last):
    torch.manual_seed(0)
    model = create_model(name).eval()
    assert last_conv_stage(model) == last
    x = torch.randn(3, 3, 66, 200)
    vbp = visual_backprop(model, x)
    signed = signed_grad_cam(model, x)
    left, right = grad_cam(model, x)
    for label, values in (("vbp", vbp), ("signed", signed), ("left", left), ("right", right)):
        assert values.shape == (3, 66, 200), label
        assert torch.isfinite(values).all(), label
    assert vbp.min().item() >= 0.0 and vbp.amax(dim=(1, 2)).allclose(torch.ones(3))
    assert signed.min().item() >= -1.0 and signed.max().item() <= 1.0
    assert signed.abs().amax(dim=(1, 2)).allclose(torch.ones(3)), "each frame is scaled to reach |1|"
    assert left.min().item() >= 0.0 and right.min().item() >= 0.0
    assert torch.allclose(right - left, signed)


def test_frame_saliency_maps_back_onto_the_camera_frame():
    torch.manual_seed(0)
    model = create_model("pilotnet").eval()
    config = default_preprocess("pilotnet")
    frames = [
        np.random.default_rng(i).integers(0, 256, (FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8) for i in range(2)
    ]
    maps, steering = frame_saliency(model, config, frames, method="vbp")
    assert maps.shape == (2, FRAME_HEIGHT, FRAME_WIDTH) and steering.shape == (2,)
    # The sky and hood rows are cropped away before the model: no saliency there.
    assert not maps[:, : config.crop_top].any() and not maps[:, FRAME_HEIGHT - config.crop_bottom :].any()
    # Resizing the 66x200 map (peak 1.0) to the 75x320 band may round the peak off a little.
    band = maps[:, config.crop_top : FRAME_HEIGHT - config.crop_bottom]
    assert band.max() <= 1.0 and band.reshape(2, -1).max(axis=1).min() > 0.8


def test_saliency_to_frame_places_the_band_between_the_crops():
    config = PreprocessConfig(crop_top=60, crop_bottom=25, height=66, width=200)
    full = saliency_to_frame(np.ones((66, 200), np.float32), config)
    assert full.shape == (160, 320)
    assert full[:60].sum() == 0 and full[135:].sum() == 0 and np.all(full[60:135] == 1.0)


def test_overlay_keeps_unsalient_pixels_and_colours_salient_ones():
    frame = np.full((160, 320, 3), 100, np.uint8)
    heat = np.zeros((160, 320), np.float32)
    heat[:, 160:] = 1.0
    out = overlay(frame, heat, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert np.array_equal(out[:, :160], frame[:, :160])
    # JET at 1.0 is dark red (RGB ~ (128, 0, 0)): half-blended with grey 100 -> about (114, 50, 50).
    assert out[0, 200, 0] > out[0, 200, 2] + 40


def test_overlay_signed_paints_left_blue_and_right_red():
    frame = np.full((10, 20, 3), 128, np.uint8)
    signed = np.zeros((10, 20), np.float32)
    signed[:, :10], signed[:, 10:] = -1.0, 1.0
    out = overlay_signed(frame, signed).astype(int)
    assert out[5, 2, 2] > out[5, 2, 0] + 50, "left-pushing pixels turn blue"
    assert out[5, 15, 0] > out[5, 15, 2] + 50, "right-pushing pixels turn red"
