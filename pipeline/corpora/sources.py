"""Finding utterances in a corpus tree (`grid`, `lombardgrid`, `folder`) and checking each one.

A source turns a root folder into `Candidate`s; `check` decodes a candidate's video and audio and
returns a manifest `Utterance` or a `Reject` with a one-line reason.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.corpora import Source, grid
from pipeline.corpora.grid import AlignmentError
from pipeline.errors import ParamsError, StageError, one_line
from pipeline.io.manifest import Reject, Utterance, Word
from pipeline.io.media import VIDEO_TRACK, MediaError, probe_video, read_audio, rms_db

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mpg", ".mpeg", ".avi", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class GridLayout:
    """`corpus.grid`: where a GRID tree keeps each file, relative to the root ({speaker}, {id})."""

    video: str = "video/{speaker}/{id}.mpg"
    audio: str = "audio/{speaker}/{id}.wav"
    align: str = "align/{speaker}/{id}.align"


@dataclass(frozen=True)
class LombardLayout:
    """`corpus.lombardgrid`: camera view folder (front | side)."""

    view: Literal["front", "side"] = "front"


@dataclass(frozen=True)
class FolderLayout:
    """`corpus.folder`: speaker name for videos directly in the root (subfolders name their own)."""

    speaker: str = "speaker"


@dataclass(frozen=True)
class Checks:
    """`corpus.checks`: what makes an utterance usable."""

    min_frames: int = 10
    min_fps: float = 5.0
    max_fps: float = 120.0
    max_av_mismatch_s: float = 0.25
    min_rms_db: float = -50.0


@dataclass(frozen=True)
class Candidate:
    """An utterance a source found, not yet checked. `audio` None means the video's own track;
    `align_format` says how to read `align`: grid (.align), lombard (.json) or transcript (.txt)."""

    id: str
    speaker: str
    video: str
    audio: str | None = None
    align: str | None = None
    align_format: str = "grid"
    extra: dict = field(default_factory=dict)


def _pattern_regex(pattern: str) -> re.Pattern:
    if "{speaker}" not in pattern or "{id}" not in pattern:
        raise ParamsError(f"corpus.grid.video pattern {pattern!r} needs both {{speaker}} and {{id}}")
    parts = re.split(r"(\{speaker\}|\{id\})", pattern)
    regex = "".join(
        "(?P<speaker>[^/]+)" if p == "{speaker}" else "(?P<id>[^/]+)" if p == "{id}" else re.escape(p)
        for p in parts
    )
    return re.compile(regex + "$")


def find_grid(root: Path, layout: GridLayout) -> list[Candidate]:
    """GRID: videos matching the layout's pattern; audio and alignment found by the same names."""
    regex = _pattern_regex(layout.video)
    glob = layout.video.replace("{speaker}", "*").replace("{id}", "*")
    candidates = []
    for video in sorted(root.glob(glob)):
        match = regex.match(video.relative_to(root).as_posix())
        if not match:
            continue
        speaker, stem = match["speaker"], match["id"]
        audio = root / layout.audio.format(speaker=speaker, id=stem)
        align = root / layout.align.format(speaker=speaker, id=stem)
        candidates.append(Candidate(
            id=f"{speaker}_{stem}", speaker=speaker, video=str(video),
            audio=str(audio) if audio.exists() else None,
            align=str(align) if align.exists() else None,
        ))
    return candidates


_LOMBARD_NAME = re.compile(r"^(?P<speaker>s\d+)_(?P<condition>[lp])_(?P<id>[a-z0-9]{6})$")


def find_lombardgrid(root: Path, layout: LombardLayout) -> tuple[list[Candidate], list[Reject]]:
    """Lombard GRID: VIEW/sN_{l,p}_ID.mov, audio/sN_{l,p}_ID.wav, alignment/sN_{l,p}_ID.json."""
    candidates, rejects = [], []
    for video in sorted((root / layout.view).glob("*.mov")):
        match = _LOMBARD_NAME.match(video.stem)
        if not match:
            rejects.append(Reject(str(video), "name is not sN_l_ID or sN_p_ID (Lombard GRID naming)"))
            continue
        audio, align = root / "audio" / f"{video.stem}.wav", root / "alignment" / f"{video.stem}.json"
        candidates.append(Candidate(
            id=video.stem, speaker=match["speaker"], video=str(video),
            audio=str(audio) if audio.exists() else None,
            align=str(align) if align.exists() else None, align_format="lombard",
            extra={"condition": "lombard" if match["condition"] == "l" else "plain", "grid_id": match["id"]},
        ))
    return candidates, rejects


def find_folder(root: Path, layout: FolderLayout) -> list[Candidate]:
    """Any videos under root; a first-level subfolder names the speaker. Next to a video, a
    same-named .wav is its audio (else its own track) and .align/.txt its transcript."""
    candidates = []
    for video in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()):
        relative = video.relative_to(root)
        speaker = relative.parts[0] if len(relative.parts) > 1 else layout.speaker
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", relative.with_suffix("").as_posix())
        stem = stem[len(speaker) + 1:] if stem.startswith(f"{speaker}_") else stem
        audio = video.with_suffix(".wav")
        align, text = video.with_suffix(".align"), video.with_suffix(".txt")
        transcript = ((str(align), "grid") if align.exists() else (str(text), "transcript") if text.exists()
                      else (None, "grid"))
        candidates.append(Candidate(
            id=f"{speaker}_{stem}", speaker=speaker, video=str(video),
            audio=str(audio) if audio.exists() else None,
            align=transcript[0], align_format=transcript[1],
        ))
    return candidates


def find_candidates(source: Source, root: Path, grid_layout: GridLayout, lombard: LombardLayout,
                    folder: FolderLayout) -> tuple[list[Candidate], list[Reject]]:
    """The utterances `source` finds under root, plus files rejected by name alone."""
    if not root.is_dir():
        raise StageError(f"corpus.root {root} is not a folder (corpus.source: {source})")
    if source in ("synthetic", "grid"):
        return find_grid(root, grid_layout if source == "grid" else GridLayout()), []
    if source == "lombardgrid":
        return find_lombardgrid(root, lombard)
    return find_folder(root, folder), []


def _reason_kind(reason: str) -> str:
    """A reject reason without its numbers, to count reasons of one kind together."""
    return re.sub(r"-?\d+(\.\d+)?", "N", reason.split(":")[0])


def corpus_summary(utterances: list[Utterance], rejects: list[Reject], warnings: list[str]) -> dict:
    """The corpus metrics: counts, reject share, hours, rejects by kind of reason, warnings."""
    total = len(utterances) + len(rejects)
    return {
        "warnings": len(warnings),
        "utterances": len(utterances),
        "speakers": len({u.speaker for u in utterances}),
        "rejected": len(rejects),
        "reject_fraction": round(len(rejects) / total, 4) if total else 0.0,
        "hours": round(sum(u.duration for u in utterances) / 3600, 4),
        "rejects_by_reason": dict(sorted(Counter(_reason_kind(r.reason) for r in rejects).items())),
    }


def read_words(candidate: Candidate) -> list[Word]:
    """The candidate's words (silences dropped); AlignmentError for a malformed transcript."""
    if candidate.align is None:
        return []
    if candidate.align_format == "grid":
        return [w for w in grid.read_align(Path(candidate.align)) if w.word not in grid.PAUSES]
    if candidate.align_format == "transcript":
        return [Word(w) for w in grid.read_text(Path(candidate.align)).split()]
    if candidate.align_format == "lombard":
        return _lombard_words(Path(candidate.align), candidate.extra["grid_id"])
    raise ValueError(f"unknown alignment format {candidate.align_format!r}")


def _lombard_words(path: Path, grid_id: str) -> list[Word]:
    """Word times from Lombard GRID's phone-level JSON ({name: [{phone, offset, duration}, ...]},
    phones tagged _B/_I/_E/_S for their place in the word); word labels from the GRID id."""
    try:
        payload = json.loads(grid.read_text(path))
    except json.JSONDecodeError as error:
        raise AlignmentError(f"alignment is not JSON: {error}") from error
    phones = next(iter(payload.values())) if isinstance(payload, dict) else payload
    spans: list[list[float]] = []
    for phone in phones:
        try:
            label, start = str(phone["phone"]), float(phone["offset"])
            end = start + float(phone["duration"])
        except (KeyError, TypeError, ValueError) as error:
            raise AlignmentError(f"alignment entry {phone!r} lacks phone/offset/duration") from error
        if label.lower().startswith(("sil", "sp")):
            continue
        if label.endswith(("_B", "_S")) or not spans:
            spans.append([start, end])
        else:
            spans[-1][1] = end
    sentence = grid.sentence_from_id(grid_id)
    if sentence is None or len(sentence) != len(spans):
        raise AlignmentError(f"alignment has {len(spans)} words, GRID id {grid_id!r} has "
                         f"{len(sentence) if sentence else 'no valid'} words")
    return [Word(word, round(start, 4), round(end, 4)) for word, (start, end) in zip(sentence, spans, strict=True)]


@dataclass(frozen=True)
class Checked:
    """What checking a candidate gives: an utterance for the manifest or a reject, and a warning
    about something kept despite it (an unreadable alignment: the words are left out)."""

    result: Utterance | Reject
    warning: str | None = None


def check(candidate: Candidate, checks: Checks, fps: float) -> Checked:
    """Decode the video and audio and apply the checks; never raises for bad input. The utterance
    records the video resampled to `fps` (what the stages read) next to its own rate. A bad
    alignment never rejects good audio and video: the utterance is kept without words."""
    at_fault = candidate.video
    try:
        info = probe_video(Path(candidate.video))
        if not checks.min_fps <= info.fps <= checks.max_fps:
            raise MediaError(f"implausible frame rate {info.fps:g} fps")
        frames = info.frames_at(fps)
        if frames < checks.min_frames:
            raise MediaError(f"only {frames} frames at {fps:g} fps (min_frames {checks.min_frames})")
        at_fault = candidate.audio or candidate.video
        audio_path = candidate.audio or VIDEO_TRACK
        samples, rate = read_audio(audio_path, Path(candidate.video))
        level = rms_db(samples)
        if level < checks.min_rms_db:
            raise MediaError(f"silent audio ({level:.0f} dBFS RMS < {checks.min_rms_db:g})")
        audio_s = len(samples) / rate
        if abs(audio_s - info.span) > checks.max_av_mismatch_s:
            raise MediaError(f"audio lasts {audio_s:.2f} s but video {info.span:.2f} s")
    except (MediaError, ValueError, OSError) as error:
        return Checked(Reject(at_fault, one_line(error)))
    warning = None
    try:
        words = read_words(candidate)
    except (AlignmentError, OSError) as error:
        words, warning = [], f"{candidate.align}: {one_line(error)}; kept without words"
    return Checked(Utterance(
        id=candidate.id, speaker=candidate.speaker, video=candidate.video, audio=audio_path,
        frames=frames, fps=float(fps), width=info.width, height=info.height, duration=info.span,
        sample_rate=rate, words=words, source_frames=info.frames, source_fps=round(info.fps, 6),
    ), warning)
