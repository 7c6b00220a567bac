"""Miniature LRS3, LRS2 and Lip2Wav downloads in their real layouts and with their real defects
(DESIGN.md: real corpora as downloaded), built from the real GRID videos in tests/data: face-centred
crops (224 x 224 for LRS3, 160 x 160 for LRS2) at 25 fps, H.264 with AAC audio at 16 kHz, `.txt`
files in the real format; Lip2Wav's cuts are whole frames at 30 fps without transcripts."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import face_crop
from pipeline.audio.mels import resample
from pipeline.corpora import grid
from pipeline.io.manifest import Word
from pipeline.io.media import VIDEO_TRACK, read_audio, read_video, write_video
from tests.conftest import REPO

REAL = REPO / "tests" / "data" / "real_grid"
ALIGNED = "swwp2s"  # the one real video with a real alignment: its word times are true


def real_words(name: str, offset: float = 0.0) -> list[Word]:
    """A real video's words; true times for the aligned one, none for the others."""
    if name != ALIGNED:
        return [Word(w) for w in grid.sentence_from_id(name)]
    return [Word(w.word, round(w.start + offset, 3), round(w.end + offset, 3))
            for w in grid.read_align(REAL / f"{name}.align") if w.word != "sil"]


def face_clip(names: list[str], size: int, fps: float = 25.0) -> tuple[list[np.ndarray], np.ndarray]:
    """The real videos one after another, cropped square around the face and scaled to size,
    with their audio at 16 kHz as int16."""
    frames, audio = [], []
    for name in names:
        video = read_video(REAL / f"{name}.mpg", fps=fps)
        frames += [face_crop(frame, size) for frame in video]
        samples, rate = read_audio(VIDEO_TRACK, REAL / f"{name}.mpg")
        speech = resample(samples, rate, 16000)[:round(len(video) / fps * 16000)]
        audio.append(np.pad(speech, (0, round(len(video) / fps * 16000) - len(speech))))
    return frames, np.round(np.concatenate(audio) * 32767).astype(np.int16)


def clip_text(words: list[Word], ref: str | None, frames: int, word_table: bool = True) -> str:
    """A clip's `.txt` as LRS3 (with `Ref:`) and LRS2 (without) write it."""
    lines = [f"Text:  {' '.join(w.word.upper() for w in words)}", "Conf:  4"]
    lines += [f"Ref:   {ref}"] if ref else []
    lines += ["", "FRAME X Y W H"] + [f"{i:06d} \t0.297 \t0.188 \t0.406 \t0.484 " for i in range(frames)]
    if word_table:
        lines += ["", "WORD START END ASDSCORE"] + [f"{w.word.upper()} {w.start:.2f} {w.end:.2f} 3.8" for w in words]
    return "\n".join(lines) + "\n"


def _clip(path: Path, names: list[str], size: int, ref: str | None, word_table: bool = True) -> None:
    frames, audio = face_clip(names, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path.with_suffix(".mp4"), frames, 25, audio, 16000, codec="libx264")
    words = [w for k, name in enumerate(names) for w in real_words(name, 3.0 * k)]
    path.with_suffix(".txt").write_text(clip_text(words, ref, len(frames), word_table and all(w.timed for w in words)))


LRS3_CLIPS = {  # path under lrs3_v0.4: (real videos, true YouTube id, word table)
    "trainval/aYBJayS6mTY/50001": (["swwp2s"], "aYBJayS6mTY", True),
    "trainval/aYBJayS6mTY/50002": (["bbaf2n"], "aYBJayS6mTY", False),
    "trainval/xS8fEjSyqPI/50001": (["lbax4n"], "x_8fEj-yqPI", False),  # S for _ and -
    "pretrain/xS8fEjSyqPI/00001": (["swwp2s", "swwp2s", "swwp2s"], "x_8fEj-yqPI", True),  # 9 s of three sentences
    "pretrain/aYBJayS6mTY/00001": (["bbaf2n", "lbax4n", "pwij3p"], "aYBJayS6mTY", False),  # long, no word table
    "test/0Fi83BHQsMA/00001": (["pwij3p"], "0Fi83BHQsMA", False),
    "test/0Fi83BHQsMA/00002": (["swwp2s"], "0Fi83BHQsMA", True),
}


def lrs3_tree(root: Path) -> Path:
    """`lrs3_v0.4/{pretrain,trainval,test}/<FOLDER>/<NNNNN>.{mp4,txt}` under an extraction folder,
    with macOS junk, a clip whose mp4 is corrupt and a video without its .txt."""
    base = root / "lrs3_v0.4"
    for relative, (names, ref, table) in LRS3_CLIPS.items():
        _clip(base / relative, names, 224, ref, table)
    corrupt = base / "test/0Fi83BHQsMA/00003"
    corrupt.with_suffix(".mp4").write_bytes((base / "test/0Fi83BHQsMA/00001.mp4").read_bytes()[:3000])
    corrupt.with_suffix(".txt").write_text(clip_text(real_words("pwij3p"), "0Fi83BHQsMA", 75, False))
    (base / "test/0Fi83BHQsMA/00004.mp4").write_bytes((base / "test/0Fi83BHQsMA/00001.mp4").read_bytes())
    (root / "__MACOSX/lrs3_v0.4/test/0Fi83BHQsMA").mkdir(parents=True)
    (root / "__MACOSX/lrs3_v0.4/test/0Fi83BHQsMA/._00001.mp4").write_bytes(b"\x00\x05\x16\x07")
    return root


LRS2_CLIPS = {  # path under mvlrs_v1: real videos
    "main/5535415699068794046/00001": ["swwp2s"],
    "main/5535415699068794046/00002": ["bbaf2n"],
    "main/6331559613336179781/00001": ["lbax4n"],
    "main/6331559613336179781/00002": ["pwij3p"],
    "pretrain/5535415699068794046/00001": ["swwp2s", "swwp2s"],
}


def lrs2_tree(root: Path) -> Path:
    """`mvlrs_v1/{main,pretrain}/<ID>/<NNNNN>.{mp4,txt}` (160 x 160) and the four lists beside it
    (test lines carry a second column)."""
    for relative, names in LRS2_CLIPS.items():
        _clip(root / "mvlrs_v1" / relative, names, 160, None)
    (root / "pretrain.txt").write_text("5535415699068794046/00001\n")
    (root / "train.txt").write_text("5535415699068794046/00001\n5535415699068794046/00002\n")
    (root / "val.txt").write_text("6331559613336179781/00001\n")
    (root / "test.txt").write_text("6331559613336179781/00002 NF\n")
    return root


def lip2wav_tree(root: Path) -> Path:
    """`Dataset/chem/intervals/<id>/cut-N.mp4`: whole lecture-like frames (the face in a corner of
    a 480 x 360 frame) at 30 fps, 12 s a cut, no transcripts; the speaker's lists."""
    speaker = root / "Dataset" / "chem"
    for video_id, names in (("Tqb4Ip_TKSw", ["bbaf2n", "swwp2s", "lbax4n", "pwij3p"]),
                            ("q3-EQ0ZfC9c", ["pwij3p", "lbax4n"]), ("v4lId8tIoNs", ["swwp2s"])):
        frames, audio = face_clip(names, 160, fps=30)
        lecture = []
        for frame in frames:
            canvas = np.full((360, 480, 3), 235, np.uint8)
            canvas[200:360, 320:480] = frame
            lecture.append(canvas)
        path = speaker / "intervals" / video_id / "cut-0.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, lecture, 30, audio, 16000, codec="libx264")
    (speaker / "train.txt").write_text("Tqb4Ip_TKSw\n")
    (speaker / "val.txt").write_text("v4lId8tIoNs\n")
    (speaker / "test.txt").write_text("q3-EQ0ZfC9c\n")
    return root
