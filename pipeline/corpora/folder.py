"""A folder of one's own recordings: any videos under the root; a first-level subfolder names the
speaker. Next to a video, a same-named .wav is its audio (else its own track) and .align/.txt its
transcript."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpora.files import VIDEO_EXTENSIONS, Candidate, Found, walk


@dataclass(frozen=True)
class FolderLayout:
    """`corpus.folder`: speaker name for videos directly in the root (subfolders name their own)."""

    speaker: str = "speaker"


def find_folder(root: Path, layout: FolderLayout) -> Found:
    """Every video under root, with its speaker, audio and transcript."""
    found = Found()
    for video in (p for p in walk(root, found.skipped) if p.suffix.lower() in VIDEO_EXTENSIONS):
        relative = video.relative_to(root)
        speaker = relative.parts[0] if len(relative.parts) > 1 else layout.speaker
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", relative.with_suffix("").as_posix())
        stem = stem[len(speaker) + 1:] if stem.startswith(f"{speaker}_") else stem
        audio = video.with_suffix(".wav")
        align, text = video.with_suffix(".align"), video.with_suffix(".txt")
        transcript = ((str(align), "grid") if align.exists() else (str(text), "transcript") if text.exists()
                      else (None, "grid"))
        found.candidates.append(Candidate(
            id=f"{speaker}_{stem}", speaker=speaker, video=str(video),
            audios=(str(audio),) if audio.exists() else (),
            align=transcript[0], align_format=transcript[1],
        ))
    return found
