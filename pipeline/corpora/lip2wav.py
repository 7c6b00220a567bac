"""Lip2Wav (Prajwal et al. 2020) after its download script: `Dataset/<speaker>/intervals/<id>/
cut-N.mp4` (30 s pieces of lectures by chem, chess, dl, eh, hs; 30 fps but dl's 25), with the
speaker's lists `Dataset/<speaker>/{train,val,test}.txt` of YouTube ids (pipeline.corpora.protocols).

No transcripts: its clips have no words (no WER; the judge's figures are null), and a cut longer
than `corpus.max_seconds` is split into equal windows. Frames are the whole lecture frame: the
face may be small (set `landmarks.upsample`) or in a corner.
"""
from __future__ import annotations

import re
from pathlib import Path

from pipeline.corpora.files import VIDEO_EXTENSIONS, Candidate, Found, walk

SPEAKERS = ("chem", "chess", "dl", "eh", "hs")
_CUT = re.compile(r"^cut-(\d+)$")


def find_lip2wav(root: Path) -> Found:
    """Every `<speaker>/intervals/<id>/cut-N.*` video under root; id `lip2wav_<speaker>_<id>_cutN`."""
    found = Found()
    for path in walk(root, found.skipped):
        if path.suffix.lower() not in VIDEO_EXTENSIONS or len(path.parts) < 4 or path.parent.parent.name != "intervals":
            continue
        speaker, video_id, match = path.parents[2].name, path.parent.name, _CUT.match(path.stem)
        if match is None:
            found.skipped["Lip2Wav: not a cut-N video"] += 1
            continue
        found.candidates.append(Candidate(
            id=f"lip2wav_{speaker}_{video_id}_cut{int(match[1])}", speaker=speaker, video=str(path),
            long_clips="windows", extra={"video_id": video_id},
        ))
    return found
