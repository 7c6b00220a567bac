"""GRID: the sentence grammar, utterance ids, `.align` files, and finding the utterances of a tree
as its public archives unpack.

A GRID sentence is command colour preposition letter digit adverb ("bin blue at f two now"); its id
takes one character per word ("bbaf2n"). Alignments count time in units of 1/1000 of a 25 fps video
frame (40 ms), i.e. 25 000 units per second.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.corpora.files import (
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Candidate,
    Found,
    nearest_speaker_folder,
    speaker_folder,
    walk,
)
from pipeline.errors import ParamsError
from pipeline.io.manifest import Reject, Word

COMMANDS = ("bin", "lay", "place", "set")
COLOURS = ("blue", "green", "red", "white")
PREPOSITIONS = ("at", "by", "in", "with")
LETTERS = tuple("abcdefghijklmnopqrstuvxyz")  # GRID leaves out w
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ADVERBS = ("again", "now", "please", "soon")
SLOTS = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
SLOT_NAMES = ("command", "colour", "preposition", "letter", "digit", "adverb")
N_SENTENCES = 4 * 4 * 4 * 25 * 10 * 4

UNITS_PER_SECOND = 25_000
SILENCE = "sil"
PAUSES = (SILENCE, "sp")  # what alignments mark between words; not words of the transcript


def _id_char(slot: tuple[str, ...], word: str) -> str:
    if slot is DIGITS:
        return "z" if word == "zero" else str(DIGITS.index(word))
    return word[0]


def sentence_id(words: tuple[str, ...] | list[str]) -> str:
    """GRID id of a sentence, e.g. ("bin", "blue", "at", "f", "two", "now") -> "bbaf2n"."""
    return "".join(_id_char(slot, word) for slot, word in zip(SLOTS, words, strict=True))


def sentence_from_index(index: int) -> tuple[str, ...]:
    """The `index`-th sentence of GRID's grammar (0 <= index < N_SENTENCES), mixed-radix order."""
    if not 0 <= index < N_SENTENCES:
        raise ValueError(f"sentence index {index} outside 0..{N_SENTENCES - 1}")
    words = []
    for slot in reversed(SLOTS):
        index, choice = divmod(index, len(slot))
        words.append(slot[choice])
    return tuple(reversed(words))


def sentence_from_id(utterance_id: str) -> tuple[str, ...] | None:
    """Words of a GRID id ("bbaf2n"), or None when the id is not a GRID sentence."""
    if len(utterance_id) != len(SLOTS):
        return None
    words = []
    for slot, char in zip(SLOTS, utterance_id, strict=True):
        matches = [w for w in slot if _id_char(slot, w) == char]
        if len(matches) != 1:
            return None
        words.append(matches[0])
    return tuple(words)


def is_sentence(words: list[str] | tuple[str, ...]) -> bool:
    """Whether the words are a GRID sentence: six words, each one of its slot's."""
    return len(words) == len(SLOTS) and all(word in slot for word, slot in zip(words, SLOTS, strict=True))


def format_align(words: list[Word]) -> str:
    """GRID `.align` text: one `start end word` line per word, times in 1/1000 frame units."""
    spans = [w.span() for w in words]
    return "".join(f"{round(start * UNITS_PER_SECOND)} {round(end * UNITS_PER_SECOND)} {w.word}\n"
                   for w, (start, end) in zip(words, spans, strict=True))


class AlignmentError(ValueError):
    """A transcript or alignment file that cannot be read; the message says where and why."""


def read_text(path: Path) -> str:
    """A transcript file's text; AlignmentError when it is not UTF-8."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise AlignmentError(f"alignment is not UTF-8 text (byte {error.start})") from error


def read_align(path: Path) -> list[Word]:
    """Parse a GRID `.align` file; AlignmentError naming the line and the problem when malformed."""
    words = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise AlignmentError(f"alignment line {number}: expected 'start end word', got {line.strip()!r}")
        if not (parts[0].isdigit() and parts[1].isdigit()):
            raise AlignmentError(f"alignment line {number}: start and end must be whole numbers, got {line.strip()!r}")
        start, end = int(parts[0]), int(parts[1])
        if end < start:
            raise AlignmentError(f"alignment line {number}: end {end} before start {start}")
        words.append(Word(parts[2], start / UNITS_PER_SECOND, end / UNITS_PER_SECOND))
    return words


@dataclass(frozen=True)
class GridLayout:
    """`corpus.grid`: where a GRID tree keeps each file, relative to the root ({speaker}, {id}).
    All null (the default): found anywhere under the root, as the public archives unpack."""

    video: str | None = None
    audio: str | None = None
    align: str | None = None


ALIGN_EXTENSION = ".align"
MIN_FOLDER_MATCH = 0.5  # an alignment folder is a speaker's when at least this share of its ids are


def untimed(sentence: tuple[str, ...]) -> list[Word]:
    """A sentence's words without times."""
    return [Word(word) for word in sentence]


def find_grid(root: Path, layout: GridLayout) -> Found:
    """GRID under root: by the layout's patterns when `video` is set, else as downloaded (see
    `find_downloaded`)."""
    if layout.video is not None:
        return _find_by_patterns(root, layout)
    return find_downloaded(root)


def find_downloaded(root: Path) -> Found:
    """GRID as its archives unpack, in any mix side by side or nested (Zenodo: `sN/*.mpg`,
    `audio_25k/sN/*.wav`, `alignments/sN/*.align`; Sheffield: `sN/*.mpg`, `sN/video/mpg_6000/*.mpg`,
    `sN/*.wav`, one shared `align/`; this project's `unpack`: `video/sN`, `audio/sN`, `align/sN`).

    A video's speaker is its nearest `sN` folder and its id the file name, which must be a GRID
    sentence id; a second copy of a video is passed over. Every wav of the same speaker and id is
    an audio candidate. Alignment folders are given to the speaker whose videos they match (about
    20 of Zenodo's hold another speaker's files); an alignment in no speaker folder is used only
    when one speaker alone says its id."""
    found = Found()
    videos: dict[tuple[str, str], Path] = {}
    wavs: dict[tuple[str, str], list[Path]] = defaultdict(list)
    folders: dict[str, dict[str, Path]] = defaultdict(dict)  # align folder speaker -> id -> file
    loose: dict[str, Path] = {}  # alignments outside any speaker folder, by id
    for path in walk(root, found.skipped):
        suffix, stem, speaker = path.suffix.lower(), path.stem, speaker_folder(path, root)
        if suffix in VIDEO_EXTENSIONS:
            if speaker is None:
                found.rejects.append(Reject(str(path), "no folder named sN above it names the speaker"))
            elif sentence_from_id(stem) is None:
                found.rejects.append(Reject(str(path), f"{stem!r} is not a GRID sentence id (command colour "
                                                       "preposition letter digit adverb, e.g. bbaf2n)"))
            elif (speaker, stem) in videos:
                found.skipped["second copy of a video"] += 1
            else:
                videos[speaker, stem] = path
        elif suffix in AUDIO_EXTENSIONS:
            if speaker is None:
                found.skipped["audio in no speaker folder"] += 1
            else:
                wavs[speaker, stem].append(path)
        elif suffix == ALIGN_EXTENSION:
            if speaker is None:
                loose.setdefault(stem, path)
            else:
                folders[speaker][stem] = path
    aligns = _assign_alignments(videos, folders, loose, found.warnings)
    for (speaker, stem), video in sorted(videos.items()):
        found.candidates.append(Candidate(
            id=f"{speaker}_{stem}", speaker=speaker, video=str(video),
            audios=tuple(str(p) for p in wavs.get((speaker, stem), [])),
            align=str(aligns[speaker, stem]) if (speaker, stem) in aligns else None,
            sentence=sentence_from_id(stem),
        ))
    return found


def _assign_alignments(videos: dict[tuple[str, str], Path], folders: dict[str, dict[str, Path]],
                       loose: dict[str, Path], warnings: list[str]) -> dict[tuple[str, str], Path]:
    """{(speaker, id): alignment}. Each speaker folder of alignments goes to the speaker whose video
    ids it matches: its own, or, when it holds another's files, that one's (with a warning)."""
    ids_of: dict[str, set[str]] = defaultdict(set)
    for speaker, stem in videos:
        ids_of[speaker].add(stem)

    def match(ids: set[str], speaker: str) -> float:
        return len(ids & ids_of[speaker]) / min(len(ids), len(ids_of[speaker])) if ids_of[speaker] else 0.0

    owners: dict[str, str] = {}
    for folder in sorted(folders, key=lambda s: (len(s), s)):
        ids = set(folders[folder])
        best = max(sorted(ids_of, key=lambda s: (len(s), s)), key=lambda s: match(ids, s), default=None)
        if match(ids, folder) >= MIN_FOLDER_MATCH:
            owner = folder
        elif best is not None and match(ids, best) >= MIN_FOLDER_MATCH:
            owner = best
            warnings.append(f"{_folder_of(folders[folder])} holds {best}'s alignments, not {folder}'s "
                            f"({match(ids, best):.0%} of its ids are {best}'s videos, {match(ids, folder):.0%} "
                            f"{folder}'s): used as {best}'s")
        else:
            if ids_of[folder]:
                warnings.append(f"{_folder_of(folders[folder])} matches no speaker's videos "
                                f"({match(ids, folder):.0%} of its ids are {folder}'s): not used")
            continue
        if owner in owners:
            warnings.append(f"{_folder_of(folders[folder])}: {owner} already has the alignments of "
                            f"{owners[owner]}: not used")
            continue
        owners[owner] = folder
    aligns = {(owner, stem): path for owner, folder in owners.items() for stem, path in folders[folder].items()
              if stem in ids_of[owner]}
    for stem, path in sorted(loose.items()):
        speakers = sorted((s for s in ids_of if stem in ids_of[s]), key=lambda s: (len(s), s))
        if len(speakers) == 1 and (speakers[0], stem) not in aligns:
            aligns[speakers[0], stem] = path
        elif len(speakers) > 1:
            warnings.append(f"{path}: in no speaker folder, and {', '.join(speakers)} all say {stem}: not used "
                            "(unpack each speaker's alignments into its own folder: python -m "
                            "pipeline.corpora.unpack)")
    return aligns


def _folder_of(files: dict[str, Path]) -> Path:
    return next(iter(files.values())).parent


def _pattern_regex(pattern: str) -> re.Pattern:
    if "{speaker}" not in pattern or "{id}" not in pattern:
        raise ParamsError(f"corpus.grid.video pattern {pattern!r} needs both {{speaker}} and {{id}}")
    parts = re.split(r"(\{speaker\}|\{id\})", pattern)
    regex = "".join(
        "(?P<speaker>[^/]+)" if p == "{speaker}" else "(?P<id>[^/]+)" if p == "{id}" else re.escape(p)
        for p in parts
    )
    return re.compile(regex + "$")


def _find_by_patterns(root: Path, layout: GridLayout) -> Found:
    """GRID by explicit patterns: videos matching `video`; audio and alignment at `audio` and
    `align` for the same speaker and id."""
    assert layout.video is not None
    regex = _pattern_regex(layout.video)
    glob = layout.video.replace("{speaker}", "*").replace("{id}", "*")
    found = Found()
    for video in sorted(root.glob(glob)):
        match = regex.match(video.relative_to(root).as_posix())
        if not match:
            continue
        speaker, stem = match["speaker"], match["id"]
        audio = root / layout.audio.format(speaker=speaker, id=stem) if layout.audio else None
        align = root / layout.align.format(speaker=speaker, id=stem) if layout.align else None
        found.candidates.append(Candidate(
            id=f"{speaker}_{stem}", speaker=speaker, video=str(video),
            audios=(str(audio),) if audio is not None and audio.exists() else (),
            align=str(align) if align is not None and align.exists() else None,
            sentence=sentence_from_id(stem),
        ))
    return found


SPEAKERS = tuple(f"s{n}" for n in range(1, 35))
NO_VIDEO = ("s21",)  # GRID's s21 was released without video
SENTENCES_PER_SPEAKER = 1000
_ARCHIVE_SPEAKER = re.compile(r"^(s\d+)(?:[._].*)?$")  # s1.zip, s1.mpg_vcd.zip, s1_50kHz.tar, align/s1.tar


def unpacked_path(member: PurePosixPath, archive: str) -> str | None:
    """Where a member of a GRID archive goes in the unpacked tree, relative to its root, or None for
    a file the corpus does not use: `video/sN/ID.mpg`, `audio/sN/ID.wav` (full length), `audio_25k/
    sN/ID.wav` (Zenodo's silence-trimmed), `align/sN/ID.align`. The speaker is the member's nearest
    sN folder, else the archive's name (Sheffield's `align/sN.tar` writes every speaker into one
    `align/` folder: here each keeps its own)."""
    suffix, stem = member.suffix.lower(), member.stem
    if sentence_from_id(stem) is None:
        return None
    from_archive = _ARCHIVE_SPEAKER.match(Path(archive).name)
    speaker = nearest_speaker_folder(reversed(member.parts[:-1])) or (from_archive.group(1) if from_archive else None)
    if speaker is None:
        return None
    if suffix in VIDEO_EXTENSIONS:
        return f"video/{speaker}/{stem}{suffix}"
    if suffix in AUDIO_EXTENSIONS:
        trimmed = "25k" in archive.lower() or any("25k" in p.lower() for p in member.parts)
        return f"{'audio_25k' if trimmed else 'audio'}/{speaker}/{stem}{suffix}"
    if suffix == ALIGN_EXTENSION:
        return f"align/{speaker}/{stem}{suffix}"
    return None


def unpacked_report(root: Path) -> list[dict]:
    """Per GRID speaker, how many of its 1000 sentences the unpacked tree has of each kind."""
    rows = []
    for speaker in SPEAKERS:
        row: dict = {"speaker": speaker}
        for kind in ("video", "audio", "audio_25k", "align"):
            folder = root / kind / speaker
            row[kind] = sum(1 for p in folder.iterdir() if sentence_from_id(p.stem)) if folder.is_dir() else 0
        missing = SENTENCES_PER_SPEAKER - row["video"]
        row["note"] = ("GRID has no video of s21" if speaker in NO_VIDEO
                       else "" if missing <= 0 else f"{missing} videos missing")
        rows.append(row)
    return rows
