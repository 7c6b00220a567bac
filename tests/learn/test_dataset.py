"""The PyTorch reader: normalisation, padding, windows, DataLoader workers, enrolment recordings."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, SequentialSampler

from pipeline.io.store import StoreReader
from pipeline.learn.dataset import EpochSampler, LipSpeechDataset, collate, enrolments, worker_init_fn


def _dataset(stores, split="train", **options) -> LipSpeechDataset:
    return LipSpeechDataset.from_files(stores["split"], split, stores["features"], stores["mels"], stores["stats"],
                                       stores["manifest"], **options)


def _normalised(dataset: LipSpeechDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample normalised by the batch module, real frames only, joined along time."""
    batch = collate([dataset[i] for i in range(len(dataset))])
    video, mel = dataset.normalizer.module()(batch.video, batch.mel, batch.video_lengths, batch.mel_lengths)
    return (torch.cat([v[:, :n] for v, n in zip(video, batch.video_lengths, strict=True)], dim=1),
            torch.cat([m[:, :n] for m, n in zip(mel, batch.mel_lengths, strict=True)], dim=1))


def test_the_reader_hands_out_the_stored_dtypes(stores):
    dataset = _dataset(stores)
    sample = dataset[0]
    stored = StoreReader(stores["features"]).read(sample.id)["video"]
    assert sample.video.dtype == torch.int16 and sample.video.shape == (3, 75, 64, 64)
    assert torch.equal(sample.video, torch.from_numpy(stored).transpose(0, 1))
    assert sample.mel.dtype == torch.float32 and sample.mel.shape == (80, 225) and sample.speaker in (0, 1)
    assert sample.text and sample.text.split()[0] in ("bin", "lay", "place", "set")


def test_batches_are_normalised_with_train_stats_where_they_are(stores):
    video, _ = _normalised(_dataset(stores, normalize="standard"))
    np.testing.assert_allclose(video.mean(dim=(1, 2, 3)).numpy(), 0, atol=1e-3)
    np.testing.assert_allclose(video.std(dim=(1, 2, 3)).numpy(), 1, atol=1e-2)
    minmax = _dataset(stores, normalize="minmax")
    video, mel = _normalised(minmax)
    assert video.min() == pytest.approx(-1, abs=1e-5) and video.max() == pytest.approx(1, abs=1e-5)
    assert mel.min() == pytest.approx(0, abs=1e-5) and mel.max() == pytest.approx(1, abs=1e-5)
    raw = StoreReader(stores["mels"]).read(minmax.ids[0])["mel"].T
    np.testing.assert_allclose(minmax.normalizer.mel_to_raw(mel[:, :225].numpy()), raw, rtol=1e-4, atol=1e-4)
    video, _ = _normalised(_dataset(stores, normalize="none"))
    stored = StoreReader(stores["features"]).read(minmax.ids[0])["video"]
    np.testing.assert_array_equal(video[1, :75].numpy(), stored[:, 1].astype(np.float32))


def test_the_batch_module_gives_the_per_sample_normalisation_and_zero_padding(stores):
    """The same numbers as normalising each sample on the CPU, then padding with zeros."""
    long, short = _dataset(stores, window=30), _dataset(stores, window=20)
    batch = collate([long[0], short[1]])
    video, mel = long.normalizer.module()(batch.video, batch.mel, batch.video_lengths, batch.mel_lengths)
    for index, sample in enumerate([long[0], short[1]]):
        frames = sample.video.shape[1]
        expected_video = long.normalizer.video(sample.video.transpose(0, 1))
        expected_mel = long.normalizer.mel(sample.mel.T.numpy())
        torch.testing.assert_close(video[index, :, :frames], expected_video, atol=1e-6, rtol=0)
        torch.testing.assert_close(mel[index, :, :3 * frames], expected_mel, atol=1e-6, rtol=0)
    assert torch.all(video[1, :, 20:] == 0) and torch.all(mel[1, :, 60:] == 0)


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
    np.testing.assert_array_equal(sliding[3].video.transpose(0, 1).numpy(), full[45:75])
    assert sliding[3].mel.shape == (80, 90)


def test_two_dataloader_workers_give_the_same_batches_as_none(stores):
    dataset = _dataset(stores, window=25, seed=3)

    def batches(workers: int):
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate, num_workers=workers,
                            worker_init_fn=worker_init_fn if workers else None)
        return [(b.ids, b.video, b.mel, b.speakers) for b in loader]

    for (ids0, video0, mel0, spk0), (ids2, video2, mel2, spk2) in zip(batches(0), batches(2), strict=True):
        assert ids0 == ids2 and torch.equal(video0, video2) and torch.equal(mel0, mel2) and torch.equal(spk0, spk2)


def test_persistent_workers_place_each_epochs_windows_as_the_main_process_does(stores):
    """Training's loader: the epoch reaches persistent DataLoader workers through the sampler, so
    windows move from epoch to epoch in worker processes exactly as without workers (a
    `set_epoch` on the dataset alone stays in the main process: the workers kept epoch 1's)."""
    dataset = _dataset(stores, window=25, seed=3)
    sampler = EpochSampler(SequentialSampler(range(len(dataset))))

    def epochs(workers: int) -> list[list[torch.Tensor]]:
        loader = DataLoader(dataset, sampler=sampler, batch_size=1, collate_fn=collate, num_workers=workers,
                            worker_init_fn=worker_init_fn if workers else None, persistent_workers=workers > 0)
        seen = []
        for epoch in (1, 2):
            sampler.set_epoch(epoch)
            seen.append([batch.video for batch in loader])
        return seen

    in_process, in_workers = epochs(0), epochs(2)
    for first, second in zip(*in_process, strict=True):
        assert not torch.equal(first, second)  # the windows moved
    for expected, got in zip(in_process, in_workers, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert sampler.epoch == 2 and len(sampler) == len(dataset)


def test_each_utterance_enrols_another_of_its_speaker_the_same_every_time():
    speaker_of = {"s1_a": "s1", "s1_b": "s1", "s1_c": "s1", "s2_a": "s2", "s3_a": "s3", "s3_b": "s3"}
    chosen = enrolments(list(reversed(speaker_of)), speaker_of)
    assert chosen == {"s1_a": "s1_b", "s1_b": "s1_c", "s1_c": "s1_a", "s2_a": None, "s3_a": "s3_b", "s3_b": "s3_a"}
    assert all(other is None or (other != i and speaker_of[other] == speaker_of[i]) for i, other in chosen.items())


def test_a_voice_reader_hands_out_the_enrolment_mel_and_collate_pads_it(stores):
    """Every utterance of the tiny corpus (three per speaker) gets another of its speaker's mels;
    in the train split (one per speaker) there is none to enrol from: length 0."""
    plain, alone = _dataset(stores), _dataset(stores, voices=True)
    assert plain[0].voice is None and collate([plain[0]]).voice is None
    lonely = collate([alone[i] for i in range(len(alone))])
    assert lonely.voice_lengths is not None and lonely.voice_lengths.tolist() == [0] * len(alone)
    mels = StoreReader(stores["mels"])
    every = sorted(mels.ids)
    stats = json.loads(stores["stats"].read_text())
    voiced = LipSpeechDataset(every, StoreReader(stores["features"]), mels, stats, alone.speaker_of, voices=True)
    batch = collate([voiced[i] for i in range(len(voiced))])
    assert batch.voice is not None and batch.voice_lengths is not None
    for row, utterance_id in enumerate(batch.ids):
        other = voiced.enrolment[utterance_id]
        assert other != utterance_id and voiced.speaker_of[other] == voiced.speaker_of[utterance_id]
        stored = torch.from_numpy(mels.read(other)["mel"]).T
        length = int(batch.voice_lengths[row])
        assert length == stored.shape[1] and torch.equal(batch.voice[row, :, :length], stored)


def test_the_epoch_sampler_batches_utterances_of_similar_length_and_keeps_the_order_of_equal_ones():
    """Open-vocabulary corpora mix lengths: each pool of drawn indices is sorted by length and cut
    into batches drawn in a seeded random order, so batches pad little; a corpus of one length
    (GRID) is drawn exactly as without lengths."""
    from torch.utils.data import RandomSampler

    lengths = [25, 150, 40, 375, 60, 90, 300, 30, 45, 80, 200, 100]

    def drawn_by(sampler_lengths, epoch=2):
        sampler = EpochSampler(RandomSampler(range(12), generator=torch.Generator().manual_seed(0)), sampler_lengths,
                               pool=6, batch=2, seed=7)
        sampler.set_epoch(epoch)
        return list(sampler)

    drawn = list(RandomSampler(range(12), generator=torch.Generator().manual_seed(0)))
    keys = drawn_by(lengths)
    assert {epoch for _, epoch in keys} == {2} and sorted(i for i, _ in keys) == list(range(12))
    order = [i for i, _ in keys]
    for start in (0, 6):
        pool = order[start:start + 6]
        assert set(pool) == set(drawn[start:start + 6])  # batches stay within their pool
        ranked = sorted(pool, key=lambda i: lengths[i])
        batches = {tuple(ranked[k:k + 2]) for k in range(0, 6, 2)}
        assert {tuple(sorted(pool[k:k + 2], key=lambda i: lengths[i])) for k in range(0, 6, 2)} == batches
    assert keys == drawn_by(lengths)  # reproducible
    assert [i for i, _ in drawn_by([75] * 12)] == drawn
