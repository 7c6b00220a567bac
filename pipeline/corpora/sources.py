"""Finding utterances in a corpus tree and checking each one.

A source turns a root folder into `Candidate`s (pipeline.corpora.grid, .lombard, .lrs3, .lrs2,
.lip2wav, .folder); `check` decodes a candidate's video and audio and returns its manifest
`Utterance`s (one, or the pieces of a clip longer than `max_seconds`) or a `Reject` with a
one-line reason.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.corpora import Source, cuts, grid, lip2wav, lombard, lrs, lrs2, lrs3
from pipeline.corpora.files import Candidate, Found
from pipeline.corpora.folder import FolderLayout, find_folder
from pipeline.corpora.grid import AlignmentError, GridLayout
from pipeline.corpora.lombard import LombardLayout
from pipeline.errors import StageError, one_line
from pipeline.io.manifest import Reject, Utterance, Word
from pipeline.io.media import VIDEO_TRACK, MediaError, probe_video, read_audio, rms_db


@dataclass(frozen=True)
class Checks:
    """`corpus.checks`: what makes an utterance usable."""

    min_frames: int = 10
    min_fps: float = 5.0
    max_fps: float = 120.0
    max_av_mismatch_s: float = 0.25
    min_rms_db: float = -50.0


def find_candidates(source: Source, root: Path, grid_layout: GridLayout, lombard_layout: LombardLayout,
                    folder: FolderLayout, synthetic_sentences: str = "grid") -> Found:
    """The utterances `source` finds under root, files rejected by name alone, and warnings. The
    embedded corpus is in GRID's layout, or with open sentences in the folder source's."""
    if not root.is_dir():
        raise StageError(f"corpus.root {root} is not a folder (corpus.source: {source})")
    if source == "synthetic" and synthetic_sentences == "open":
        found = find_folder(root, FolderLayout())
    elif source in ("synthetic", "grid"):
        found = grid.find_grid(root, grid_layout if source == "grid" else GridLayout())
    elif source == "lombardgrid":
        found = lombard.find_lombardgrid(root, lombard_layout)
    elif source == "lrs3":
        found = lrs3.find_lrs3(root)
    elif source == "lrs2":
        found = lrs2.find_lrs2(root)
    elif source == "lip2wav":
        found = lip2wav.find_lip2wav(root)
    else:
        found = find_folder(root, folder)
    return one_per_id(found)


def one_per_id(found: Found) -> Found:
    """Each utterance id once: of candidates that share an id (two copies of one file under the
    root), the first by video path is kept and each other one rejected, naming the file kept, so
    no later stage meets an id twice."""
    first: dict[str, Candidate] = {}
    for candidate in sorted(found.candidates, key=lambda c: c.video):
        if candidate.id in first:
            kept = first[candidate.id].video
            found.rejects.append(Reject(candidate.video, f"utterance id {candidate.id} is already {kept}'s "
                                                         "(a second copy?); kept that one"))
        else:
            first[candidate.id] = candidate
    found.candidates = [c for c in found.candidates if first[c.id] is c]
    return found


def _reason_kind(reason: str) -> str:
    """A reject reason without its numbers, to count reasons of one kind together."""
    return re.sub(r"-?\d+(\.\d+)?", "N", reason.split(":")[0])


def corpus_summary(utterances: list[Utterance], rejects: list[Reject], warnings: list[str],
                   wavs_passed_over: int = 0, skipped: Counter | None = None) -> dict:
    """The corpus metrics: counts, reject share, hours, where the audio came from, rejects by kind
    of reason, warnings, files passed over on purpose."""
    total = len(utterances) + len(rejects)
    return {
        "warnings": len(warnings),
        "utterances": len(utterances),
        "speakers": len({u.speaker for u in utterances}),
        "rejected": len(rejects),
        "reject_fraction": round(len(rejects) / total, 4) if total else 0.0,
        "hours": round(sum(u.duration for u in utterances) / 3600, 4),
        "audio_from": dict(sorted(Counter("video track" if u.audio == VIDEO_TRACK else "audio file"
                                          for u in utterances).items())),
        "audio_files_passed_over": wavs_passed_over,
        "rejects_by_reason": dict(sorted(Counter(_reason_kind(r.reason) for r in rejects).items())),
        "skipped_files": dict(sorted((skipped or Counter()).items())),
    }


def read_words(candidate: Candidate) -> list[Word]:
    """The words the candidate's alignment or transcript file gives (silences dropped), [] when
    it has none; AlignmentError for one that cannot be read."""
    if candidate.align is None:
        return []
    if candidate.align_format == "grid":
        return [w for w in grid.read_align(Path(candidate.align)) if w.word not in grid.PAUSES]
    if candidate.align_format == "transcript":
        return [Word(w) for w in grid.read_text(Path(candidate.align)).split()]
    if candidate.align_format == "lombard":
        if candidate.sentence is None:
            raise AlignmentError("a Lombard GRID alignment needs the sentence of its id")
        return lombard.read_words(Path(candidate.align), candidate.sentence)
    if candidate.align_format == "lrs":
        return lrs.read_words(Path(candidate.align))
    raise ValueError(f"unknown alignment format {candidate.align_format!r}")


def transcript(candidate: Candidate) -> tuple[list[Word], str | None]:
    """The utterance's words and a warning, if any. A name that spells its sentence (a GRID id)
    gives the words; the alignment gives their times only when its words are the same. Without
    such a name the alignment or transcript file gives the words. A file that cannot be read, or
    disagrees, never costs the utterance: its times are left out, with a warning."""
    sentence = candidate.sentence
    try:
        words = read_words(candidate)
    except (AlignmentError, OSError) as error:
        if sentence is None:
            return [], f"{candidate.align}: {one_line(error)}; kept without words"
        return grid.untimed(sentence), f"{candidate.align}: {one_line(error)}; words from its id, without times"
    if sentence is None:
        return words, None
    if candidate.align is None:
        return grid.untimed(sentence), None
    said = tuple(w.word for w in words)
    if said != sentence:
        return grid.untimed(sentence), (f"{candidate.align}: its words {' '.join(said)!r} are not its id's "
                                        f"{' '.join(sentence)!r}; words from the id, without times")
    return words, None


@dataclass(frozen=True)
class Checked:
    """What checking a candidate gives: an utterance for the manifest or a reject, a warning about
    something kept despite it (an alignment that cannot be used: its times are left out), and the
    audio files passed over because they were not as long as the video. `result` is a list for a
    clip cut into pieces."""

    result: Utterance | Reject | list[Utterance]
    warning: str | None = None
    passed_over: tuple[str, ...] = ()


def _matching_audio(candidate: Candidate, span: float, checks: Checks
                    ) -> tuple[str, np.ndarray, int, tuple[str, ...]]:
    """(path or VIDEO_TRACK, samples, rate, audio files passed over): the first audio file as long
    as the video, else the video's own track. MediaError when neither is: the first file's
    problem when the video has no track of its own."""
    passed_over: list[str] = []
    problems: list[tuple[str, str]] = []
    for path in candidate.audios:
        try:
            samples, rate = read_audio(path)
        except MediaError as error:
            problems.append((path, one_line(error)))
            continue
        if abs(len(samples) / rate - span) <= checks.max_av_mismatch_s:
            return path, samples, rate, tuple(passed_over)
        passed_over.append(path)
        problems.append((path, f"audio lasts {len(samples) / rate:.2f} s but video {span:.2f} s"))
    try:
        samples, rate = read_audio(VIDEO_TRACK, Path(candidate.video))
    except MediaError as error:
        if problems:
            raise _AudioError(*problems[0]) from error
        raise _AudioError(candidate.video, one_line(error)) from error
    if abs(len(samples) / rate - span) > checks.max_av_mismatch_s:
        raise _AudioError(candidate.video, f"audio track lasts {len(samples) / rate:.2f} s but video {span:.2f} s")
    return VIDEO_TRACK, samples, rate, tuple(passed_over)


class _AudioError(MediaError):
    """No usable audio; `path` is the file at fault."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path


def check(candidate: Candidate, checks: Checks, fps: float, max_seconds: float = float("inf")) -> Checked:
    """Decode the video and audio and apply the checks; never raises for bad input. The utterance
    records the video resampled to `fps` (what the stages read) next to its own rate, and the
    audio that matches it (`_matching_audio`). A bad alignment never rejects good audio and video.
    A clip longer than `max_seconds` becomes pieces (`<id>_pNN`, pipeline.corpora.cuts)."""
    at_fault = candidate.video
    try:
        info = probe_video(Path(candidate.video))
        if not checks.min_fps <= info.fps <= checks.max_fps:
            raise MediaError(f"implausible frame rate {info.fps:g} fps")
        frames = info.frames_at(fps)
        if frames < checks.min_frames:
            raise MediaError(f"only {frames} frames at {fps:g} fps (min_frames {checks.min_frames})")
        try:
            audio_path, samples, rate, passed_over = _matching_audio(candidate, info.span, checks)
        except _AudioError as error:
            at_fault = error.path
            raise
        at_fault = audio_path if audio_path != VIDEO_TRACK else candidate.video
        level = rms_db(samples)
        if level < checks.min_rms_db:
            raise MediaError(f"silent audio ({level:.0f} dBFS RMS < {checks.min_rms_db:g})")
    except (MediaError, ValueError, OSError) as error:
        return Checked(Reject(at_fault, one_line(error)))
    words, warning = transcript(candidate)
    whole = Utterance(
        id=candidate.id, speaker=candidate.speaker, video=candidate.video, audio=audio_path,
        frames=frames, fps=float(fps), width=info.width, height=info.height, duration=info.span,
        sample_rate=rate, words=words, source_frames=info.frames, source_fps=round(info.fps, 6),
    )
    if info.span <= max_seconds:
        return Checked(whole, warning, passed_over)
    try:
        pieces = cuts.cut(words, info.span, max_seconds, fps, candidate.long_clips)
    except cuts.CutError as error:
        return Checked(Reject(candidate.video, one_line(error)), warning, passed_over)
    return Checked([dataclasses.replace(
        whole, id=f"{candidate.id}_p{index:02d}", frames=max(1, round((piece.end - piece.start) * fps)),
        duration=round(piece.end - piece.start, 6), words=list(piece.words), start=piece.start, end=piece.end,
    ) for index, piece in enumerate(pieces)], warning, passed_over)
