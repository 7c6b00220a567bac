"""Speak for one video of a speaking face: the whole chain, with the code the stages use.

    python -m pipeline.speak VIDEO -o OUT.wav [--model data/model.pt] [--speaker s1]

Any container frame rate, or a variable one: the video is resampled by its timestamps to the rate
the model was trained at, so the speech stays in step with it. Long recordings stream through in
bounded memory: windows of `evaluate.window` frames overlapping by `evaluate.overlap`, each
through landmarks (the params file's `landmarks` section: detection is not part of the model),
the checkpoint's mouth crop, features and normalisation, and the model; the mels crossfade over
the overlaps and are vocoded block by block (`evaluate.vocoder`) straight into the wav, which
lasts as long as the video. A window without a findable face speaks silence (with a warning).
An unreadable video, a video without a face anywhere or an unknown speaker ends with a one-line
reason and exit status 1.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import soundfile
import torch
from tqdm import tqdm

from pipeline.errors import StageError, run_command
from pipeline.face.crop import CropParams, mouth_crops
from pipeline.face.features import video_features
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.io import params as params_io
from pipeline.io.files import replacing
from pipeline.io.media import MediaError, iter_video, probe_video
from pipeline.learn.evaluation import EvaluateParams
from pipeline.learn.inference import Synthesiser, windowed

log = logging.getLogger("pipeline.speak")
SECTIONS = {"landmarks": LandmarksParams, "evaluate": EvaluateParams}


@dataclass
class Progress:
    """What streaming a video found so far: frames read and frames in windows without a face."""

    frames: int = 0
    faceless: int = 0
    reasons: list[str] = field(default_factory=list)


def feature_windows(video: Path, synthesiser: Synthesiser, landmarks: LandmarksParams, evaluate: EvaluateParams,
                    progress: Progress, bar: tqdm) -> Iterator[torch.Tensor | int]:
    """The video as windows of normalised features (C, T, S, S), resampled to the model's frame
    rate; a window without a usable face comes as its number of frames (it speaks silence)."""
    recorded = synthesiser.checkpoint["preprocessing"]["features"]
    crop = CropParams(recorded["mode"], recorded["size"], recorded["padding"], recorded["grayscale"])
    fps, overlap = synthesiser.fps, evaluate.overlap
    frames = iter_video(video, grayscale=crop.grayscale, fps=fps)
    for index, window in enumerate(windowed(frames, evaluate.window, overlap)):
        new = len(window) - (overlap if index else 0)
        progress.frames += new
        bar.update(new / fps)
        frames_in = np.stack(window)
        gray = frames_in if crop.grayscale else np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in window])
        track = landmarks_of(gray, landmarks)
        if isinstance(track, str):
            progress.faceless += new
            progress.reasons.append(track)
            log.warning("%s: frames %d-%d: %s; they speak silence", video, progress.frames - new,
                        progress.frames - 1, track)
            yield len(window)
            continue
        features = video_features(mouth_crops(frames_in, track.points, crop), recorded["derivatives"])
        yield synthesiser.normalizer.video(features)


def speech_mel(video: Path, synthesiser: Synthesiser, landmarks: LandmarksParams, evaluate: EvaluateParams,
               speaker: str | None = None) -> np.ndarray:
    """The whole predicted log-mel (n_mels, k*T) of a video, as `speak` makes it (for tests and
    notebooks: it holds the whole mel in memory)."""
    with tqdm(disable=True) as bar:
        windows = feature_windows(video, synthesiser, landmarks, evaluate, Progress(), bar)
        return np.concatenate(list(synthesiser.predict_windows(windows, evaluate.overlap, speaker, evaluate.sigma,
                                                               evaluate.seed)), axis=1)


def speak(video: Path, out: Path, model_path: Path, landmarks: LandmarksParams, evaluate: EvaluateParams,
          speaker: str | None = None) -> float:
    """Write the speech for `video` to `out` (in bounded memory); returns its duration in seconds."""
    synthesiser = Synthesiser.load(model_path, evaluate.vocoder, evaluate.device)
    synthesiser.speaker_index(speaker)  # an unknown speaker fails before any work
    if speaker is not None and synthesiser.model.speaker is None:
        log.warning("this model has no speaker conditioning (model.speaker_embedding: false); "
                    "--speaker changes nothing")
    fps, rate = synthesiser.fps, synthesiser.audio.sample_rate
    progress = Progress()
    try:
        info = probe_video(video)
        with tqdm(total=round(info.span, 1), desc="speak", unit="s", bar_format="{l_bar}{bar}| {n:.1f}/{total} s") \
                as bar, replacing(out) as partial:
            windows = feature_windows(video, synthesiser, landmarks, evaluate, progress, bar)
            mels = synthesiser.predict_windows(windows, evaluate.overlap, speaker, evaluate.sigma, evaluate.seed)
            with soundfile.SoundFile(partial, "w", rate, 1, "PCM_16", format="WAV") as wav:
                for chunk in synthesiser.vocode_stream(mels, fps):
                    wav.write(chunk)
            if progress.faceless == progress.frames:
                reason = progress.reasons[0] if len(progress.reasons) == 1 else \
                    f"no usable face in any window of its {progress.frames} frames"
                raise StageError(f"{video}: {reason}")
    except MediaError as error:
        raise StageError(f"{video}: {error}") from error
    seconds = progress.frames / fps
    log.info("%s: %d source frames at %g fps -> %d at %g fps -> %s (%.2f s at %d Hz)", video, info.frames, info.fps,
             progress.frames, fps, out, seconds, rate)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True, help="wav to write")
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--speaker", help="voice to use, when the model has speaker conditioning")
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH,
                        help="for the landmarks and evaluate sections")
    args = parser.parse_args(argv)

    def body() -> float:
        sections = params_io.sections(args.params, SECTIONS)
        return speak(args.video, args.out, args.model, sections["landmarks"], sections["evaluate"], args.speaker)

    run_command(log, body)


if __name__ == "__main__":
    main()
