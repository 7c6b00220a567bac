"""The PyTorch reader: normalisation, padding, windows, DataLoader workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pipeline.io.store import StoreReader
from pipeline.learn.dataset import LipSpeechDataset, collate, worker_init_fn


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
