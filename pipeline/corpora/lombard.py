"""Lombard GRID (Alghamdi et al. 2018) as its Zenodo archives unpack: `lombardgrid/{front,side}/
sN_{l,p}_ID.mov`, `lombardgrid/audio/sN_{l,p}_ID.wav` (16 kHz, mostly 32-bit float) and
`lombardgrid/alignment/sN_{l,p}_ID.json` (phone times). The root may be any folder above them.

Its defects: about 70 files are named `..._WRONG_<actual>`, where <actual> is the id of what was
really said (two say `#sil`: nothing); some keep an older name, `sN_2_38_8_r_ID`. Its speakers are
other people than GRID's, so they are named `lombard_sN` and never merge with GRID's sN.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from pipeline.corpora import grid
from pipeline.corpora.files import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, Candidate, Found, walk
from pipeline.corpora.grid import AlignmentError
from pipeline.io.manifest import Reject, Word

SPEAKER_PREFIX = "lombard_"
CONDITIONS = {"l": "lombard", "p": "plain"}
_NAME = re.compile(r"^(?P<speaker>s\d+)_(?P<condition>[lp])_(?P<id>[a-z0-9]{6})(?:_WRONG_(?P<actual>.+))?$")
_OLD_NAME = re.compile(r"^(?P<speaker>s\d+)(?:_\d+)+_(?P<condition>[a-z])_(?P<id>[a-z0-9]{6})$")


@dataclass(frozen=True)
class LombardLayout:
    """`corpus.lombardgrid`: camera view folder (front | side)."""

    view: Literal["front", "side"] = "front"


@dataclass(frozen=True)
class LombardName:
    """What a Lombard GRID file name says: speaker, condition, the id it was filed under and the id
    of what was said (they differ in the `_WRONG_` files)."""

    speaker: str
    condition: str
    filed_id: str
    said_id: str


def parse_name(stem: str) -> LombardName:
    """The name's parts; ValueError with the reason for a name that is not Lombard GRID's or whose
    recording says nothing."""
    match = _NAME.match(stem) or _OLD_NAME.match(stem)
    if match is None:
        raise ValueError("name is not sN_l_ID, sN_p_ID or sN_N_..._c_ID (Lombard GRID naming)")
    said = (match.groupdict().get("actual") or match["id"]).lower()
    if said.startswith("#sil"):
        raise ValueError("marked _WRONG_#sil: the recording holds no sentence")
    if grid.sentence_from_id(said) is None:
        raise ValueError(f"{said!r} is not a GRID sentence id")
    return LombardName(match["speaker"], CONDITIONS.get(match["condition"], match["condition"]), match["id"], said)


def find_lombardgrid(root: Path, layout: LombardLayout) -> Found:
    """Every video in a folder named the view, anywhere under root, with the wav and JSON
    alignment of the same name wherever they are."""
    found = Found()
    videos: list[Path] = []
    wavs: dict[str, Path] = {}
    aligns: dict[str, Path] = {}
    for path in walk(root, found.skipped):
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS and path.parent.name == layout.view:
            videos.append(path)
        elif suffix in AUDIO_EXTENSIONS:
            wavs.setdefault(path.stem, path)
        elif suffix == ".json":
            aligns.setdefault(path.stem, path)
    for video in videos:
        try:
            name = parse_name(video.stem)
        except ValueError as error:
            found.rejects.append(Reject(str(video), str(error)))
            continue
        audio, align = wavs.get(video.stem), aligns.get(video.stem)
        found.candidates.append(Candidate(
            id=f"{SPEAKER_PREFIX}{video.stem}", speaker=f"{SPEAKER_PREFIX}{name.speaker}", video=str(video),
            audios=(str(audio),) if audio else (), align=str(align) if align else None, align_format="lombard",
            sentence=grid.sentence_from_id(name.said_id),
            extra={"condition": name.condition, "grid_id": name.said_id},
        ))
    return found


def read_words(path: Path, sentence: tuple[str, ...]) -> list[Word]:
    """Word times from Lombard GRID's phone-level JSON ({name: [{phone, offset, duration}, ...]},
    phones tagged _B/_I/_E/_S for their place in the word), labelled with the sentence's words;
    AlignmentError when it has another number of words."""
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
    if len(spans) != len(sentence):
        raise AlignmentError(f"alignment has {len(spans)} words, its id's sentence {len(sentence)}")
    return [Word(word, round(start, 4), round(end, 4)) for word, (start, end) in zip(sentence, spans, strict=True)]


def unpacked_path(member: PurePosixPath, archive: str) -> str | None:
    """Where a member of a Lombard GRID archive goes, relative to the unpacked root: as it is,
    from its `lombardgrid/` folder down (`lombardgrid/front/s2_l_bbaf2n.mov`), or None for a file
    the corpus does not use."""
    suffix = member.suffix.lower()
    if suffix not in (*VIDEO_EXTENSIONS, *AUDIO_EXTENSIONS, ".json"):
        return None
    parts = member.parts
    tail = parts[parts.index("lombardgrid") + 1:] if "lombardgrid" in parts else parts
    return PurePosixPath("lombardgrid", *tail).as_posix()
