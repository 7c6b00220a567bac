"""The face_alignment (FAN) backend, offline.

FAN's real weights come from the web, which tests cannot reach. These tests pre-seed torch hub's
cache with a FAN of *random* weights under the file name the package downloads to: they check the
adapter's data flow (finding the cached weights, cropping, batching, mapping heatmaps back to frame
coordinates, the stage wiring), not landmark accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.face.fan import FanLandmarker
from pipeline.face.landmarks import Landmarks, LandmarksParams, make_landmarker, process
from pipeline.face.tracking import TRACKED
from pipeline.io.manifest import Utterance
from pipeline.io.media import read_video, write_video
from tests.conftest import manifest_of


@pytest.fixture(scope="module")
def seeded_hub(tmp_path_factory) -> Path:
    from face_alignment.api import models_urls
    from face_alignment.models import FAN

    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    weights = checkpoints / Path(models_urls["2DFAN-4"]).name
    torch.save(FAN(4).state_dict(), weights)
    return home


@pytest.fixture
def fan(seeded_hub: Path, monkeypatch) -> FanLandmarker:
    monkeypatch.setenv("TORCH_HOME", str(seeded_hub))
    return FanLandmarker(device="cpu", batch_size=2)


def test_weights_come_from_the_seeded_cache(fan: FanLandmarker, seeded_hub: Path):
    cached = torch.load(next((seeded_hub / "hub" / "checkpoints").iterdir()), weights_only=True)
    name, value = next(iter(cached.items()))
    assert torch.equal(fan.network.state_dict()[name].cpu(), value)


def test_batches_map_back_into_each_face_box(fan: FanLandmarker, tiny_corpus):
    root, _ = tiny_corpus
    utterance = manifest_of(root)[0]
    frames = read_video(Path(utterance.video), grayscale=True)[:3]
    found = fan.detector.detect(frames[0])
    boxes = np.array([found.box, found.box, np.add(found.box, (20, 10, 20, 10))], np.float32)
    points = fan.predict_batch(frames, boxes)
    assert points.shape == (3, 68, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    for box, frame_points in zip(boxes, points, strict=True):
        size = (box[2] - box[0] + box[3] - box[1]) / 195 * 200  # FAN's crop window side
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2 - 0.12 * (box[3] - box[1])])
        assert np.all(np.abs(frame_points - centre) <= size / 2 + 1)
    # Batching changes nothing: three frames at once equal three single calls.
    singles = np.stack([fan.predict(f, tuple(b)) for f, b in zip(frames, boxes, strict=True)])
    np.testing.assert_allclose(points, singles, atol=1e-3)
    # The shifted box moved the crop: its points moved with it.
    assert np.abs(points[2] - points[1]).mean() > 1


def test_stage_backend_refines_tracked_boxes_with_fan(seeded_hub: Path, monkeypatch, tiny_corpus, tmp_path: Path):
    monkeypatch.setenv("TORCH_HOME", str(seeded_hub))
    root, _ = tiny_corpus
    full = manifest_of(root)[0]
    clip = tmp_path / "clip.mpg"  # 15 frames: FAN on the CPU takes ~0.4 s a frame
    write_video(clip, read_video(Path(full.video))[:15], 25)
    utterance = Utterance(**{**full.__dict__, "video": str(clip), "frames": 15})
    params = LandmarksParams(backend="face_alignment", device="cpu", batch_size=8, smoothing_window=1)
    make_landmarker.cache_clear()
    try:
        result = process(utterance, params)
        dlib_result = process(utterance, LandmarksParams(smoothing_window=1))
    finally:
        make_landmarker.cache_clear()
    assert isinstance(result, Landmarks) and result.points.shape == (15, 68, 2)
    assert np.array_equal(result.status, dlib_result.status) and (result.status == TRACKED).any()
    np.testing.assert_array_equal(result.boxes, dlib_result.boxes)  # boxes from dlib's tracker
    assert np.abs(result.points - dlib_result.points).mean() > 1  # points from (random) FAN


def test_missing_local_weights_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="FAN weights not found"):
        FanLandmarker(weights=str(tmp_path / "nope.pth"), device="cpu")


@pytest.mark.cuda
def test_fan_on_cuda_predicts_the_cpu_points(seeded_hub: Path, monkeypatch, tiny_corpus):
    """The same (random, seeded) FAN on the GPU and on the CPU: the same points, batched on the GPU.
    In full float32: cuDNN's default TF32 convolutions can move a heatmap's peak by a cell."""
    monkeypatch.setenv("TORCH_HOME", str(seeded_hub))
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    frames = read_video(Path(manifest_of(tiny_corpus[0])[0].video), grayscale=True)[:6]
    on_cpu, on_gpu = FanLandmarker(device="cpu", batch_size=4), FanLandmarker(device="cuda", batch_size=4)
    assert next(on_gpu.network.parameters()).device.type == "cuda"
    boxes = np.array([on_cpu.detector.detect(frames[0]).box] * len(frames), np.float32)
    np.testing.assert_allclose(on_gpu.predict_batch(frames, boxes), on_cpu.predict_batch(frames, boxes), atol=0.5)
