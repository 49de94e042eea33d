"""The Dataset feeds the model the very pixels drive.py computes, reproducibly per epoch, in workers too."""
from __future__ import annotations

import base64

import pytest
import torch

from steering.data import AugmentConfig, SteeringDataset, make_loader, read_logs, samples_from_log
from steering.preprocess import PreprocessConfig, decode_base64_jpeg, preprocess_frame


@pytest.fixture(scope="module")
def samples(windows_log):
    return samples_from_log(read_logs(windows_log).rows, cameras="all").iloc[:24].reset_index(drop=True)


@pytest.mark.parametrize(
    "preprocess",
    [PreprocessConfig(), PreprocessConfig(colorspace="yuv", mean=(0.5,) * 3, std=(0.5,) * 3)],
    ids=["rgb-imagenet", "yuv-pilotnet"],
)
def test_training_and_driving_see_identical_tensors(samples, preprocess):
    dataset = SteeringDataset(samples, preprocess)  # no augmentation: what validation and training decode
    for index in (0, 1, 2, 13):
        train_tensor, label = dataset[index]
        # drive.py receives the same JPEG bytes base64-encoded in the telemetry's "image" field.
        with open(samples["path"][index], "rb") as f:
            received = base64.b64encode(f.read()).decode("ascii")
        drive_tensor = preprocess_frame(decode_base64_jpeg(received), preprocess)
        assert torch.equal(train_tensor, drive_tensor), f"sample {index}: training and driving pixels differ"
        assert label.item() == pytest.approx(samples["steering"][index])


def test_items_are_float32_chw_tensors_and_scalar_labels(samples):
    dataset = SteeringDataset(samples, PreprocessConfig(height=66, width=200), AugmentConfig())
    image, label = dataset[5]
    assert len(dataset) == 24
    assert image.shape == (3, 66, 200) and image.dtype == torch.float32
    assert label.shape == () and label.dtype == torch.float32 and -1.0 <= label.item() <= 1.0


def _epoch_items(dataset, epoch, indices=range(8)):
    dataset.set_epoch(epoch)
    return [dataset[i] for i in indices]


def test_augmentation_is_reproducible_per_epoch_and_differs_between_epochs(samples):
    dataset = SteeringDataset(samples, PreprocessConfig(), AugmentConfig(), seed=5)
    first, again, other = _epoch_items(dataset, 0), _epoch_items(dataset, 0), _epoch_items(dataset, 1)
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again, strict=False))
    assert sum(not torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=False)) >= 6
    reseeded = _epoch_items(SteeringDataset(samples, PreprocessConfig(), AugmentConfig(), seed=6), 0)
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, reseeded, strict=False))


def test_set_epoch_reaches_persistent_workers(samples):
    dataset = SteeringDataset(samples.iloc[:8], PreprocessConfig(), AugmentConfig(), seed=1)
    loader = make_loader(dataset, batch_size=4, shuffle=False, workers=1)
    assert loader.persistent_workers and loader.pin_memory == torch.cuda.is_available()
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        images = torch.cat([x for x, _ in loader])
        expected = torch.stack([image for image, _ in _epoch_items(dataset, epoch)])
        assert torch.equal(images, expected), f"epoch {epoch}: worker did not use the epoch's augmentation"


def test_loader_shuffle_is_seeded(samples):
    dataset = SteeringDataset(samples, PreprocessConfig(height=33, width=100))

    def labels(seed):
        return torch.cat([y for _, y in make_loader(dataset, batch_size=8, shuffle=True, seed=seed)]).tolist()

    assert labels(0) == labels(0) and sorted(labels(0)) == sorted(samples["steering"].astype("float32").tolist())
    assert labels(0) != labels(1)


def test_samples_without_required_columns_are_rejected(samples):
    with pytest.raises(ValueError, match="samples_from_log"):
        SteeringDataset(samples.drop(columns="steering"), PreprocessConfig())
