"""Feature store stages (derivatives, mels, split, stats) and the PyTorch reader."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pipeline import derivatives
from pipeline.audio import AudioParams, log_mel
from pipeline.dataset import LipSpeechDataset, Normalizer, collate, worker_init_fn
from pipeline.features import temporal_difference, video_features
from pipeline.manifest import Utterance
from pipeline.split import SplitParams, split_ids
from pipeline.stage import StageError
from pipeline.store import StoreParams, StoreReader


def test_derivatives_match_a_hand_computed_example():
    crops = np.array([0, 10, 15, 15, 5], np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    features = video_features(crops)
    assert features.shape == (5, 3, 2, 2) and features.dtype == np.int16
    np.testing.assert_array_equal(features[:, 0, 0, 0], [0, 10, 15, 15, 5])
    np.testing.assert_array_equal(features[:, 1, 0, 0], [0, 10, 5, 0, -10])  # x[t] - x[t-1], x[-1] = x[0]
    np.testing.assert_array_equal(features[:, 2, 0, 0], [0, 10, -5, -5, -10])  # the same on the first
    assert video_features(crops, derivatives=False).shape == (5, 1, 2, 2)
    extreme = np.array([0, 255, 0], np.uint8)[:, None, None]
    assert temporal_difference(temporal_difference(extreme)).min() == -510  # int16 holds it


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
@pytest.mark.parametrize("frames", [1, 38, 75, 121])
@pytest.mark.parametrize("audio_seconds_extra", [-0.3, 0.0, 0.25])
def test_mel_frames_are_exactly_k_per_video_frame(rate, frames, audio_seconds_extra):
    params = AudioParams(sample_rate=16000, mel_frames_per_video_frame=4, n_fft=512, win_length=400, n_mels=40)
    seconds = max(0.05, frames / 25 + audio_seconds_extra)
    audio = np.random.default_rng(frames).standard_normal(int(seconds * rate)).astype(np.float32) * 0.1
    mel = log_mel(audio, rate, frames, 25, params)
    assert mel.shape == (4 * frames, 40) and mel.dtype == np.float32 and np.isfinite(mel).all()


def test_a_hop_that_is_not_whole_samples_is_refused_with_a_suggestion():
    with pytest.raises(ValueError, match=r"not a multiple of fps 25 .* Pick e.g. sample_rate"):
        AudioParams(sample_rate=16001).hop_length(25)
    assert AudioParams(sample_rate=22050, mel_frames_per_video_frame=3).hop_length(25) == 294


def _utterances(speakers: int, per_speaker: int) -> list[Utterance]:
    return [Utterance(f"s{s}_{u:03d}", f"s{s}", "v", "a", 75, 25.0, 360, 288, 3.0, 16000)
            for s in range(1, speakers + 1) for u in range(per_speaker)]


def test_seen_split_is_disjoint_complete_ordered_and_deterministic():
    utterances = _utterances(3, 40)
    splits = split_ids(utterances, SplitParams())
    ids = [i for name in ("train", "val", "test") for i in splits[name]]
    assert sorted(ids) == sorted(u.id for u in utterances) and len(set(ids)) == len(ids)
    for speaker in ("s1", "s2", "s3"):
        per = {name: [i for i in splits[name] if i.startswith(speaker + "_")] for name in splits}
        assert (len(per["train"]), len(per["val"]), len(per["test"])) == (36, 2, 2)
        assert max(per["train"]) < min(per["val"]) <= max(per["val"]) < min(per["test"])  # id order
    assert split_ids(list(reversed(utterances)), SplitParams()) == splits


def test_split_keeps_only_the_listed_speakers():
    splits = split_ids(_utterances(4, 20), SplitParams(speakers=["s2", "s4"]))
    assert {i.split("_")[0] for ids in splits.values() for i in ids} == {"s2", "s4"}
    assert sum(map(len, splits.values())) == 40
    with pytest.raises(StageError, match="split.speakers not in the manifest: s9"):
        split_ids(_utterances(4, 20), SplitParams(speakers=["s9"]))


def test_unseen_split_holds_out_whole_speakers():
    splits = split_ids(_utterances(4, 5), SplitParams(mode="unseen", val_speakers=["s3"], test_speakers=["s4"]))
    speakers = {name: {i.split("_")[0] for i in ids} for name, ids in splits.items()}
    assert speakers == {"train": {"s1", "s2"}, "val": {"s3"}, "test": {"s4"}}
    with pytest.raises(StageError, match="not in the manifest: s9"):
        split_ids(_utterances(2, 5), SplitParams(mode="unseen", test_speakers=["s9"]))
    with pytest.raises(StageError, match="val empty"):
        split_ids(_utterances(2, 5), SplitParams(mode="unseen", test_speakers=["s2"]))
    with pytest.raises(StageError, match="split.mode"):
        split_ids(_utterances(2, 5), SplitParams(mode="random"))


def test_stores_line_up_video_and_mel_frames(stores):
    features, mel_store = StoreReader(stores["features"]), StoreReader(stores["mels"])
    assert features.ids == mel_store.ids and len(features) == 6
    for utterance_id in features.ids:
        video = features.read(utterance_id)["video"]
        assert video.shape == (75, 3, 64, 64) and video.dtype == np.int16
        assert mel_store.read(utterance_id)["mel"].shape == (225, 80)
    assert features.attrs["channels"] == ["frame", "delta", "delta2"]


def test_derivatives_stage_gives_identical_arrays_in_zarr_and_hdf5(stores, tmp_path: Path):
    derivatives.run(derivatives.FeatureParams(), StoreParams("hdf5"), stores["mouths"], tmp_path / "features.h5")
    zarr_store, hdf5_store = StoreReader(stores["features"]), StoreReader(tmp_path / "features.h5")
    assert hdf5_store.format == "hdf5" and zarr_store.ids == hdf5_store.ids
    for utterance_id in zarr_store.ids:
        np.testing.assert_array_equal(zarr_store.read(utterance_id)["video"], hdf5_store.read(utterance_id)["video"])


def test_stats_match_numpy_on_the_train_ids(stores):
    result = json.loads(stores["stats"].read_text())
    train = json.loads(stores["split"].read_text())["train"]
    video = np.concatenate([StoreReader(stores["features"]).read(i)["video"] for i in train]).astype(np.float64)
    mel = np.concatenate([StoreReader(stores["mels"]).read(i)["mel"] for i in train]).astype(np.float64)
    assert result["train_utterances"] == len(train) == 2 and result["speakers"] == ["s1", "s2"]
    np.testing.assert_allclose(result["video"]["mean"], video.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["video"]["std"], video.std(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["video"]["min"], video.min(axis=(0, 2, 3)))
    np.testing.assert_allclose(result["mel"]["mean"], mel.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["mel"]["max"], mel.max(axis=0), atol=1e-6)  # stored to 6 decimals


def _dataset(stores, split="train", **options) -> LipSpeechDataset:
    return LipSpeechDataset.from_files(stores["split"], split, stores["features"], stores["mels"], stores["stats"],
                                       stores["manifest"], **options)


def test_reader_normalises_with_train_stats(stores):
    dataset = _dataset(stores, normalize="standard")
    sample = dataset[0]
    assert sample.video.shape == (3, 75, 64, 64) and sample.mel.shape == (80, 225)
    assert sample.video.dtype == torch.float32 and sample.speaker in (0, 1)
    videos = torch.cat([dataset[i].video for i in range(len(dataset))], dim=1)
    np.testing.assert_allclose(videos.mean(dim=(1, 2, 3)).numpy(), 0, atol=1e-3)
    np.testing.assert_allclose(videos.std(dim=(1, 2, 3)).numpy(), 1, atol=1e-2)
    minmax = _dataset(stores, normalize="minmax")
    video = torch.cat([minmax[i].video for i in range(len(minmax))], dim=1)
    mel = torch.cat([minmax[i].mel for i in range(len(minmax))], dim=1)
    assert video.min() == pytest.approx(-1, abs=1e-5) and video.max() == pytest.approx(1, abs=1e-5)
    assert mel.min() == pytest.approx(0, abs=1e-5) and mel.max() == pytest.approx(1, abs=1e-5)
    raw = StoreReader(stores["mels"]).read(minmax.ids[0])["mel"].T
    np.testing.assert_allclose(minmax.normalizer.mel_to_raw(minmax[0].mel.numpy()), raw, rtol=1e-4, atol=1e-4)
    none = _dataset(stores, normalize="none")[0]
    np.testing.assert_array_equal(none.video[1].numpy(),
                                  StoreReader(stores["features"]).read(none.id)["video"][:, 1].astype(np.float32))
    with pytest.raises(ValueError, match="normalize must be one of"):
        Normalizer(json.loads(stores["stats"].read_text()), "zscore")


def test_collate_pads_and_reports_lengths(stores):
    dataset = _dataset(stores, window=30)
    short = _dataset(stores, window=20)
    batch = collate([dataset[0], short[1]])
    assert batch.video.shape == (2, 3, 30, 64, 64) and batch.mel.shape == (2, 80, 90)
    assert batch.video_lengths.tolist() == [30, 20] and batch.mel_lengths.tolist() == [90, 60]
    assert torch.all(batch.video[1, :, 20:] == 0) and torch.all(batch.mel[1, :, 60:] == 0)


def test_windows_random_per_epoch_and_sliding_with_overlap(stores):
    dataset = _dataset(stores, window=30, seed=5)
    first = dataset[0].video
    assert torch.equal(first, dataset[0].video)  # same epoch, same window
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[0].video)
    sliding = _dataset(stores, window=30, stride=20)
    starts = [start for utterance_id, start in sliding.items if utterance_id == sliding.ids[0]]
    assert starts == [0, 20, 40, 60]  # the last window is moved back to end at frame 75
    full = dataset.features.read(sliding.ids[0])["video"]
    last = sliding[3].video
    expected = sliding.normalizer.video(full[45:75])
    np.testing.assert_allclose(last.numpy(), expected)
    assert sliding[3].mel.shape == (80, 90)


def test_two_dataloader_workers_give_the_same_batches_as_none(stores):
    dataset = _dataset(stores, window=25, seed=3)

    def batches(workers: int):
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate, num_workers=workers,
                            worker_init_fn=worker_init_fn if workers else None)
        return [(b.ids, b.video, b.mel, b.speakers) for b in loader]

    for (ids0, video0, mel0, spk0), (ids2, video2, mel2, spk2) in zip(batches(0), batches(2), strict=True):
        assert ids0 == ids2 and torch.equal(video0, video2) and torch.equal(mel0, mel2) and torch.equal(spk0, spk2)
