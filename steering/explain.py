"""Saliency for steering regressors: which pixels push the steering, and which way.

Two methods, both built on `steering.model.capture_activations` (forward hooks on the backbone's
named stages: resnet `layer1..layer4`, efficientnet/mobilenet `features.N`, pilotnet `conv1..conv5`):

- `grad_cam` / `signed_grad_cam`: Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391) adapted to a
  regression output. The class score becomes the steering value itself, and the ReLU that Grad-CAM
  applies to keep "evidence for the class" is replaced by an explicit sign: positive regions push the
  steering right (positive steering = right, as in the simulator), negative regions push it left.
  One forward and one backward pass; the map has the last stage's resolution (coarse).
- `visual_backprop`: VisualBackProp (Bojarski et al. 2017, arXiv 1704.07911, from the PilotNet team):
  per stage, average the feature maps over channels; starting from the deepest stage, upsample to the
  next shallower stage's size and multiply pointwise, down to input resolution; normalise to [0, 1].
  Forward pass only, no gradients: cheap enough to run on every frame of a video.

Maps come out at the model's input resolution (the cropped, resized image). `saliency_to_frame`
puts them back on the 160x320 camera frame, and `overlay` / `overlay_signed` draw them for people.
Reading logs, models and writing files is left to `data_tools.saliency`.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from steering.model import SteeringRegressor, capture_activations
from steering.preprocess import FRAME_HEIGHT, FRAME_WIDTH, PreprocessConfig, preprocess_frame

log = logging.getLogger(__name__)

METHODS = ("vbp", "gradcam")

# Floor for normalising denominators: a map that is zero everywhere stays zero instead of NaN.
_EPS = 1e-12


def stage_names(model: SteeringRegressor) -> list[str]:
    """The backbone's stages as hookable names, shallow to deep (e.g. backbone.layer1 .. backbone.layer4).

    `model.stages` lists them from the output side down (the order used for unfreezing); saliency walks
    them from the input side up.
    """
    if not getattr(model, "stages", ()):
        raise ValueError(
            f"{type(model).__name__} has no named backbone stages; saliency needs a model built by "
            "steering.model.create_model (SteeringRegressor with .stages)"
        )
    return [f"backbone.{name}" for name in reversed(model.stages)]


def last_conv_stage(model: SteeringRegressor) -> str:
    """Hook name of the deepest convolutional stage (Grad-CAM's layer): backbone.layer4, backbone.conv5, ..."""
    return stage_names(model)[-1]


@dataclass(frozen=True)
class _Grid:
    """Where a stage's cells sit on the input image: cell (i, j) is centred at pixel coordinates
    (scale_y * i + offset_y, scale_x * j + offset_x), in units where input pixel k spans [k, k+1)."""

    scale_y: float = 1.0
    offset_y: float = 0.5
    scale_x: float = 1.0
    offset_x: float = 0.5

    def then(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[float, float],
             dilation: tuple[int, int]) -> _Grid:
        # Output cell i of a conv/pool covers input cells s*i - p + [0, d*(k-1)]; its centre is the middle.
        def axis(scale: float, offset: float, k: int, s: int, p: float, d: int) -> tuple[float, float]:
            return scale * s, scale * (d * (k - 1) / 2 - p) + offset

        sy, oy = axis(self.scale_y, self.offset_y, kernel[0], stride[0], padding[0], dilation[0])
        sx, ox = axis(self.scale_x, self.offset_x, kernel[1], stride[1], padding[1], dilation[1])
        return _Grid(sy, oy, sx, ox)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _layer_grid(grid: _Grid, module: nn.Module) -> _Grid:
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return grid  # activations, norms, adaptive pools (SE blocks) keep the geometry
    kernel, stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    if module.padding == "same":
        padding = tuple(d * (k - 1) / 2 for k, d in zip(kernel, dilation, strict=False))
    elif module.padding == "valid":
        padding = (0, 0)
    else:
        padding = _pair(module.padding)
    return grid.then(kernel, stride, padding, dilation)


def stage_grids(model: SteeringRegressor, names: Sequence[str]) -> dict[str, _Grid]:
    """Receptive-field centres of each named stage's cells on the input image.

    Plain resizing of a stage's map to the image size assumes its cells tile the whole image; PilotNet's
    unpadded convolutions put conv5's cells between roughly pixels 30 and 170 of 200, so a resize
    would shift saliency sideways by up to ~20 pixels. The geometry follows the data, not the order the
    layers were registered in (Inception's parallel branches and Xception's strided shortcuts would
    otherwise compound as if in sequence): one forward pass of a blank input at the model's input size,
    with hooks, maps each convolution's and pooling's input grid to its output grid. A tensor no layer
    wrote (a sum, a concatenation) takes the grid of the newest layer output of its spatial size: what is
    added or concatenated has the same cells. Cached per model (the geometry does not depend on weights).
    """
    key = tuple(names)
    cache = _GRID_CACHE.setdefault(model, {})
    if key not in cache:
        cache[key] = _trace_grids(model, names)
    return cache[key]


_GRID_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, ...], dict[str, _Grid]]] = \
    weakref.WeakKeyDictionary()


def _trace_grids(model: SteeringRegressor, names: Sequence[str]) -> dict[str, _Grid]:
    known = {f"backbone.{path}" for path, _ in model.backbone.named_modules() if path}
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"no such backbone stage(s): {', '.join(missing)}; known: {', '.join(stage_names(model))}")
    by_tensor: dict[int, _Grid] = {}
    by_size: dict[tuple[int, int], _Grid] = {}
    alive: list[torch.Tensor] = []  # keeps traced tensors alive, so no id is reused during the pass
    grids: dict[str, _Grid] = {}

    def grid_of(t: torch.Tensor) -> _Grid | None:
        return by_tensor.get(id(t), by_size.get(tuple(t.shape[-2:])))

    def leaf(module: nn.Module, inputs: tuple, output: object) -> None:
        if not (inputs and torch.is_tensor(inputs[0]) and inputs[0].ndim == 4
                and torch.is_tensor(output) and output.ndim == 4):
            return
        grid = grid_of(inputs[0])
        if grid is not None:
            grid = _layer_grid(grid, module)
            by_tensor[id(output)] = by_size[tuple(output.shape[-2:])] = grid
            alive.append(output)

    def stage(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if torch.is_tensor(output) and output.ndim == 4 and grid_of(output) is not None:
                grids[name] = grid_of(output)
        return hook

    default = PreprocessConfig()
    height, width = getattr(model, "input_size", None) or (default.height, default.width)
    x = torch.zeros(1, 3, height, width, device=next(model.parameters()).device)
    by_tensor[id(x)] = by_size[(height, width)] = _Grid()
    handles = [m.register_forward_hook(leaf) for m in model.backbone.modules() if not list(m.children())]
    handles += [model.get_submodule(name).register_forward_hook(stage(name)) for name in names]
    try:
        with _EvalMode(model), torch.no_grad():
            model.backbone(x)
    finally:
        for handle in handles:
            handle.remove()
    untraced = [name for name in names if name not in grids]
    if untraced:
        raise ValueError(f"could not follow the geometry to stage(s) {', '.join(untraced)}")
    return grids


def _resample(maps: torch.Tensor, src: _Grid, dst: _Grid, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, h, w) on grid `src` -> (B, 1, *size) sampled at the cell centres of grid `dst` (bilinear)."""
    h, w = maps.shape[-2:]
    ys = (dst.scale_y * torch.arange(size[0], dtype=torch.float32) + dst.offset_y - src.offset_y) / src.scale_y
    xs = (dst.scale_x * torch.arange(size[1], dtype=torch.float32) + dst.offset_x - src.offset_x) / src.scale_x
    # grid_sample with align_corners=True: -1 and 1 are the centres of the first and last cells.
    ny = ys * 2 / (h - 1) - 1 if h > 1 else torch.zeros_like(ys)
    nx = xs * 2 / (w - 1) - 1 if w > 1 else torch.zeros_like(xs)
    grid = torch.stack(torch.meshgrid(nx, ny, indexing="xy"), dim=-1).to(maps.device)  # (H, W, 2) as (x, y)
    grid = grid.unsqueeze(0).expand(maps.shape[0], -1, -1, -1)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=True)


class _EvalMode:
    """Run a model in eval mode (no dropout, BatchNorm running statistics) and restore its mode after."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.was_training = model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


def _check_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) float tensor from preprocess_frame, got {tuple(x.shape)}")
    device = next(model.parameters()).device
    return x.detach().to(device=device, dtype=torch.float32)


def signed_grad_cam(model: SteeringRegressor, x: torch.Tensor, stage: str | None = None,
                    pool_gradients: bool = False) -> torch.Tensor:
    """Grad-CAM for a steering regressor, with its sign: (B, 3, H, W) -> (B, H, W) in [-1, 1].

    A is the output of `stage` (default: the last convolutional stage) and g = d(steering)/dA.
    By default cam = sum_c g_c * A_c per position (the HiResCAM form, Draelos & Carin 2020,
    arXiv 2011.08891): for a head that starts with global average pooling (ResNet) g is the same at
    every position and this equals Grad-CAM exactly; for PilotNet's flatten head each position has
    its own weights, and Grad-CAM's spatially averaged gradient (`pool_gradients=True`,
    cam = sum_c mean(g_c) * A_c) lets left-pushing and right-pushing positions cancel.
    Positive values push the steering right, negative values push it left. Each map is divided by
    its own largest |value|, so left and right evidence stay comparable within a frame. The model
    runs in eval mode; its mode is restored after.
    """
    x = _check_input(model, x)
    name = stage or last_conv_stage(model)
    with _EvalMode(model), torch.enable_grad():
        # The input asks for a gradient so the graph reaches the hooked stage even when the backbone
        # is frozen (no parameter requires grad); autograd.grad leaves parameters' .grad untouched.
        x = x.requires_grad_(True)
        with capture_activations(model, [name], detach=False) as acts:
            steering = model(x)  # (B,)
        activation = acts[name]  # (B, C, h, w)
        # Samples are independent in eval mode, so the gradient of the sum is each sample's own gradient.
        (grads,) = torch.autograd.grad(steering.sum(), activation)  # (B, C, h, w)
    weights = grads.mean(dim=(2, 3), keepdim=True) if pool_gradients else grads  # (B, C, 1 or h, 1 or w)
    cam = (weights * activation.detach()).sum(dim=1, keepdim=True)  # (B, 1, h, w)
    cam = _resample(cam, stage_grids(model, [name])[name], _Grid(), tuple(x.shape[-2:]))[:, 0]  # (B, H, W)
    scale = cam.abs().amax(dim=(1, 2), keepdim=True).clamp_min(_EPS)  # (B, 1, 1)
    return (cam / scale).clamp_(-1.0, 1.0)


def grad_cam(model: SteeringRegressor, x: torch.Tensor, stage: str | None = None,
             pool_gradients: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM split by direction: (left_map, right_map), each (B, H, W) in [0, 1].

    left_map shows what pushes the steering left (negative), right_map what pushes it right
    (positive). They share one scale per frame (see `signed_grad_cam`), so the stronger side reaches 1.
    """
    signed = signed_grad_cam(model, x, stage, pool_gradients)
    return (-signed).clamp_min(0.0), signed.clamp_min(0.0)


@torch.no_grad()
def visual_backprop(model: SteeringRegressor, x: torch.Tensor, stages: Sequence[str] | None = None) -> torch.Tensor:
    """VisualBackProp: (B, 3, H, W) -> (B, H, W) in [0, 1]; 1 marks the pixels the deepest features see.

    `stages` are hook names shallow to deep (default: every backbone stage, `stage_names(model)`).
    Each stage's channel mean is min-max scaled to [0, 1] per frame before the product: ELU (PilotNet)
    lets inactive units go negative, so a raw mean can be negative everywhere (the product of two
    negative means would light up pixels no feature responds to, and clamping at 0 would blank the
    frame); the scaling also keeps deep products from underflowing.
    """
    x = _check_input(model, x)
    names = list(stages) if stages is not None else stage_names(model)
    with _EvalMode(model), capture_activations(model, names, detach=True) as acts:
        model(x)
    means = []
    for name in names:
        act = acts[name]
        if act.ndim != 4:
            raise ValueError(f"{name}: VisualBackProp needs (B, C, h, w) feature maps, got {tuple(act.shape)}")
        mean = act.mean(dim=1, keepdim=True)  # (B, 1, h, w)
        low = mean.amin(dim=(2, 3), keepdim=True)
        high = mean.amax(dim=(2, 3), keepdim=True)
        means.append((mean - low) / (high - low).clamp_min(_EPS))  # [0, 1] per stage and sample
    # The paper upsamples with a deconvolution of each layer's kernel and stride (weights all one);
    # bilinear sampling at the shallower stage's receptive-field centres keeps the same geometry.
    grids = stage_grids(model, names)
    mask = means[-1]
    for deep, shallow, shallower in zip(reversed(names), reversed(names[:-1]), reversed(means[:-1]), strict=False):
        mask = _resample(mask, grids[deep], grids[shallow], tuple(shallower.shape[-2:])) * shallower
    mask = _resample(mask, grids[names[0]], _Grid(), tuple(x.shape[-2:]))[:, 0]  # (B, H, W)
    mask = mask.clamp_min(0.0)  # bilinear sampling of non-negative values stays >= 0; guard rounding
    return mask / mask.amax(dim=(1, 2), keepdim=True).clamp_min(_EPS)


def saliency(model: SteeringRegressor, x: torch.Tensor, method: str = "vbp") -> torch.Tensor:
    """One entry point for tools: "vbp" -> (B, H, W) in [0, 1]; "gradcam" -> signed (B, H, W) in [-1, 1]."""
    if method == "vbp":
        return visual_backprop(model, x)
    if method == "gradcam":
        return signed_grad_cam(model, x)
    raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")


def saliency_to_frame(saliency_map: np.ndarray | torch.Tensor, config: PreprocessConfig) -> np.ndarray:
    """A map at model-input resolution -> float32 (160, 320) on the camera frame.

    Undoes `crop_resize`: resized back to the cropped band's size and placed between the cropped sky
    (top) and hood (bottom) rows, which get 0 (the model never saw them).
    """
    values = saliency_map.detach().cpu().numpy() if isinstance(saliency_map, torch.Tensor) else np.asarray(saliency_map)
    if values.ndim != 2:
        raise ValueError(f"expected one (H, W) map, got shape {values.shape}")
    band_height = FRAME_HEIGHT - config.crop_top - config.crop_bottom
    band = cv2.resize(values.astype(np.float32), (FRAME_WIDTH, band_height), interpolation=cv2.INTER_LINEAR)
    full = np.zeros((FRAME_HEIGHT, FRAME_WIDTH), dtype=np.float32)
    full[config.crop_top : config.crop_top + band_height] = band
    return full


def frame_saliency(
    model: SteeringRegressor, config: PreprocessConfig, frames_rgb: Sequence[np.ndarray], method: str = "vbp"
) -> tuple[np.ndarray, np.ndarray]:
    """Camera frames (uint8 160x320 RGB) -> (maps (N, 160, 320) float32, predicted steering (N,)).

    Frames are preprocessed exactly as for driving (`preprocess_frame` with the checkpoint's config).
    """
    if len(frames_rgb) == 0:
        return np.zeros((0, FRAME_HEIGHT, FRAME_WIDTH), np.float32), np.zeros((0,), np.float32)
    x = torch.stack([preprocess_frame(frame, config) for frame in frames_rgb])  # (N, 3, H, W)
    maps = saliency(model, x, method)  # (N, H, W)
    with torch.no_grad(), _EvalMode(model):
        steering = model(x.to(next(model.parameters()).device)).cpu().numpy().astype(np.float32)  # (N,)
    return np.stack([saliency_to_frame(m, config) for m in maps]), steering


def _resize_to(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if values.shape == shape:
        return values.astype(np.float32)
    return cv2.resize(values.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _check_frame(frame_rgb: np.ndarray) -> None:
    if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB frame, got {frame_rgb.dtype} {frame_rgb.shape}")


def overlay(frame_rgb: np.ndarray, saliency_map: np.ndarray | torch.Tensor, alpha: float = 0.5,
            colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a [0, 1] map over a uint8 RGB frame as a heat map; returns a new uint8 RGB frame.

    The map is resized to the frame if needed. Blending is weighted by the map itself, so pixels with
    no saliency keep their original colour and the road stays readable.
    """
    _check_frame(frame_rgb)
    values = saliency_map.detach().cpu().numpy() if isinstance(saliency_map, torch.Tensor) else np.asarray(saliency_map)
    values = np.clip(_resize_to(values, frame_rgb.shape[:2]), 0.0, 1.0)
    heat_bgr = cv2.applyColorMap((values * 255).astype(np.uint8), colormap)
    heat = cv2.cvtColor(heat_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    weight = (alpha * values)[..., None]  # (H, W, 1)
    blended = frame_rgb.astype(np.float32) * (1.0 - weight) + heat * weight
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


LEFT_COLOUR = (40, 120, 255)  # RGB blue: pushes the steering left (negative)
RIGHT_COLOUR = (255, 60, 40)  # RGB red: pushes the steering right (positive)


def overlay_signed(frame_rgb: np.ndarray, signed_map: np.ndarray | torch.Tensor, alpha: float = 0.6) -> np.ndarray:
    """Draw a signed map in [-1, 1] over a uint8 RGB frame: blue pushes left, red pushes right."""
    _check_frame(frame_rgb)
    values = signed_map.detach().cpu().numpy() if isinstance(signed_map, torch.Tensor) else np.asarray(signed_map)
    values = np.clip(_resize_to(values, frame_rgb.shape[:2]), -1.0, 1.0)
    out = frame_rgb.astype(np.float32)
    for strength, colour in ((np.clip(-values, 0, 1), LEFT_COLOUR), (np.clip(values, 0, 1), RIGHT_COLOUR)):
        weight = (alpha * strength)[..., None]  # (H, W, 1)
        out = out * (1.0 - weight) + np.asarray(colour, np.float32) * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
