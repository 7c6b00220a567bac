"""Mouth crops of real GRID faces (tests/data/real_grid, CC BY 4.0): auto_avsr's region against an
independent computation, the aligned crop's framing, and the stored transforms of every mode."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.face.crop import MOUTH, CropParams, mouth_crops
from pipeline.face.framing import video_framing
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.io.media import read_video
from tests.conftest import REPO

REAL = REPO / "tests" / "data" / "real_grid"
VIDEOS = ("bbaf2n", "swwp2s")
MEAN_FACE = REPO / "pipeline" / "face" / "avsr_mean_face.npy"  # auto_avsr's 20words_mean_face.npy


@pytest.fixture(scope="module")
def real_faces() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Grey frames and dlib's landmarks of each real video."""
    faces = {}
    for name in VIDEOS:
        frames = read_video(REAL / f"{name}.mpg", grayscale=True)
        track = landmarks_of(frames, LandmarksParams())
        assert not isinstance(track, str), track
        faces[name] = frames, track.points
    return faces


def avsr_by_the_description(frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """auto_avsr's preparation step by step, as shared/reference_faces/README.md describes it, one
    frame at a time: smooth over ±6 frames and re-centre, fit the similarity on the 8 stable
    points, warp the whole frame into the 256 x 256 mean-face frame, cut 96 x 96 pixels around the
    mapped mouth points' mean."""
    mean_face = np.load(MEAN_FACE)
    stable = [28, 33, 36, 39, 42, 45, 48, 54]
    patches = []
    for t, frame in enumerate(frames):
        margin = min(6, t, len(points) - 1 - t)
        smoothed = np.mean([points[k] for k in range(t - margin, t + margin + 1)], axis=0)
        smoothed = smoothed + points[t].mean(axis=0) - smoothed.mean(axis=0)
        matrix = cv2.estimateAffinePartial2D(smoothed[stable].astype(np.float32),
                                             mean_face[stable].astype(np.float32), method=cv2.LMEDS)[0]
        warped = cv2.warpAffine(frame, matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
        mouth = smoothed[48:68] @ matrix[:, :2].T + matrix[:, 2]
        centre_x, centre_y = mouth.mean(axis=0)
        top, left = int(round(centre_y - 48)), int(round(centre_x - 48))
        patches.append(warped[top:top + 96, left:left + 96])
    return np.stack(patches)


@pytest.mark.parametrize("name", VIDEOS)
def test_avsr_crops_equal_auto_avsrs_preparation_step_by_step(real_faces, name: str):
    frames, points = real_faces[name]
    crops = mouth_crops(frames, points, CropParams("avsr", 96)).crops
    expected = avsr_by_the_description(frames, points)
    assert crops.shape == expected.shape == (75, 96, 96)
    assert np.abs(crops.astype(int) - expected.astype(int)).mean() <= 2


@pytest.mark.parametrize("name", VIDEOS)
def test_aligned_crops_centre_the_mouth_with_room_around_the_lips(real_faces, name: str):
    frames, points = real_faces[name]
    params = CropParams("aligned", 64, 10)
    framing = video_framing(points, mouth_crops(frames, points, params).transforms, params.size)
    np.testing.assert_allclose(framing["centre"].mean(axis=0), 0.5, atol=0.02)
    assert framing["centre"].std(axis=0).max() <= 0.01  # smoothed: it does not jitter
    assert framing["margin"].min() >= 0.15  # the lip corners well inside, every frame


@pytest.mark.parametrize("params", [CropParams("fixed"), CropParams("tracked"), CropParams("aligned"),
                                    CropParams("avsr", 96)], ids=lambda p: p.mode)
def test_the_stored_transform_maps_the_landmarks_onto_the_mouth_in_the_crop(real_faces, params: CropParams):
    """The grey level at each mouth landmark in the frame is the grey level at its mapped point in
    the crop; a transform off by 3 crop pixels misses by far more."""
    frames, points = real_faces["bbaf2n"]
    crops, transforms = mouth_crops(frames, points, params)
    assert transforms.shape == (75, 2, 3)

    def differences(shift: float) -> float:
        misses = []
        for frame, crop, matrix, frame_points in zip(frames, crops, transforms, points, strict=True):
            mouth = frame_points[MOUTH].astype(np.float32)
            mapped = (mouth @ matrix[:, :2].T + matrix[:, 2] + shift).astype(np.float32)
            in_frame = cv2.remap(frame, mouth[:, :1], mouth[:, 1:], cv2.INTER_LINEAR)
            in_crop = cv2.remap(crop, mapped[:, :1], mapped[:, 1:], cv2.INTER_LINEAR)
            misses.append(np.abs(in_frame.astype(int) - in_crop.astype(int)).mean())
        return float(np.mean(misses))

    right, off = differences(0.0), differences(3.0)
    assert right < 4 and off > 2 * right, (right, off)


def test_crops_of_a_cut_video_stay_finite_at_its_ends(real_faces):
    """Smoothing shrinks its window at the ends: a 3-frame utterance still crops."""
    frames, points = real_faces["swwp2s"]
    for mode in ("aligned", "avsr"):
        crops, transforms = mouth_crops(frames[:3], points[:3], CropParams(mode, 96))
        assert crops.shape == (3, 96, 96) and np.isfinite(transforms).all()


def test_the_mouths_stage_on_a_real_grid_tree_stores_auto_avsrs_crops(tmp_path):
    """corpus -> landmarks -> mouths (`mode: avsr`, 96 px) on a GRID tree of the real videos: the
    stored crops are auto_avsr's preparation of the stored landmarks, step by step."""
    from pipeline.io.manifest import read_manifest
    from pipeline.io.media import VideoParams
    from pipeline.io.store import StoreParams, StoreReader
    from pipeline.stages import landmarks, mouths
    from pipeline.stages.corpus import CorpusParams
    from pipeline.stages.corpus import run as corpus_run
    from tests.conftest import SEQUENTIAL

    root = tmp_path / "GRID" / "video" / "s1"
    root.mkdir(parents=True)
    for name in VIDEOS:
        (root / f"{name}.mpg").write_bytes((REAL / f"{name}.mpg").read_bytes())
    out = tmp_path / "out"
    corpus_run(CorpusParams(source="grid", root=str(tmp_path / "GRID")), VideoParams(), SEQUENTIAL, out / "corpus",
               out / "manifest.jsonl", out / "rejects.tsv", out / "corpus.json")
    landmarks.run(LandmarksParams(), StoreParams("hdf5"), SEQUENTIAL, out / "manifest.jsonl", out / "landmarks",
                  out / "landmarks_rejects.tsv", out / "landmarks.json", out / "per_utterance.json")
    count = mouths.run(CropParams("avsr", 96), StoreParams("hdf5"), SEQUENTIAL, out / "manifest.jsonl",
                       out / "landmarks", out / "mouths", out / "mouths.png")
    assert count == len(VIDEOS)
    stored, points = StoreReader(out / "mouths"), StoreReader(out / "landmarks")
    for utterance in read_manifest(out / "manifest.jsonl"):
        frames = read_video(utterance.video, grayscale=True)
        crops = stored.read(utterance.id, ["crops"])["crops"]
        expected = avsr_by_the_description(frames, points.read(utterance.id, ["points"])["points"])
        assert np.abs(crops.astype(int) - expected.astype(int)).mean() <= 2
