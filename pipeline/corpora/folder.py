"""A folder of one's own recordings: any videos under the root; a first-level subfolder names the
speaker. Next to a video, a same-named .wav is its audio (else its own track) and .align/.txt its
transcript. Ids are the speaker and the path, readable and distinct (`unique_ids`)."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpora.files import VIDEO_EXTENSIONS, Candidate, Found, walk


@dataclass(frozen=True)
class FolderLayout:
    """`corpus.folder`: speaker name for videos directly in the root (subfolders name their own)."""

    speaker: str = "speaker"


def readable_id(relative: Path, speaker: str) -> str:
    """`speaker_path_to_file`: the path under the speaker's folder, without its suffix, each run of
    characters other than letters, digits, `_` and `-` written `_`."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", relative.with_suffix("").as_posix())
    stem = stem[len(speaker) + 1:] if stem.startswith(f"{speaker}_") else stem
    return f"{speaker}_{stem}"


def unique_ids(relatives: list[Path], speakers: list[str]) -> list[str]:
    """Each video's readable id; where several videos would get the same one (`a/b c.mp4` and
    `a/b_c.mp4`, `a/x/y.mp4` and `a/x_y.mp4`), each of them gets the first 8 hex digits of its
    path's SHA-1 after it, so distinct files never share an id."""
    readable = [readable_id(relative, speaker) for relative, speaker in zip(relatives, speakers, strict=True)]
    shared = {name for name, count in Counter(readable).items() if count > 1}
    return [f"{name}-{hashlib.sha1(relative.as_posix().encode()).hexdigest()[:8]}" if name in shared else name
            for name, relative in zip(readable, relatives, strict=True)]


def find_folder(root: Path, layout: FolderLayout) -> Found:
    """Every video under root, with its speaker, audio and transcript."""
    found = Found()
    videos = [p for p in walk(root, found.skipped) if p.suffix.lower() in VIDEO_EXTENSIONS]
    relatives = [video.relative_to(root) for video in videos]
    speakers = [relative.parts[0] if len(relative.parts) > 1 else layout.speaker for relative in relatives]
    for video, speaker, utterance_id in zip(videos, speakers, unique_ids(relatives, speakers), strict=True):
        audio = video.with_suffix(".wav")
        align, text = video.with_suffix(".align"), video.with_suffix(".txt")
        transcript = ((str(align), "grid") if align.exists() else (str(text), "transcript") if text.exists()
                      else (None, "grid"))
        found.candidates.append(Candidate(
            id=utterance_id, speaker=speaker, video=str(video),
            audios=(str(audio),) if audio.exists() else (),
            align=transcript[0], align_format=transcript[1],
        ))
    return found
