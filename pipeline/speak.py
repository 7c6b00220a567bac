"""Speak for one video of a speaking face: the whole chain, with the code the stages use.

    python -m pipeline.speak VIDEO -o OUT.wav [--model data/model.pt] [--speaker s1]

Landmarks follow the params file's `landmarks` section (detection is not part of the model);
the mouth crop, the video features, the normalisation and the audio settings are the ones the
checkpoint was trained with; the vocoder is `evaluate.vocoder`. The wav lasts as long as the
video. An unreadable video, a video without a findable face or a frame rate the model's audio
settings cannot follow ends with a one-line reason and exit status 1.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.errors import StageError, run_command
from pipeline.face.crop import CropParams, mouth_crops
from pipeline.face.features import video_features
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.io import params as params_io
from pipeline.io.media import MediaError, probe_video, read_video, write_wav
from pipeline.learn.evaluation import EvaluateParams
from pipeline.learn.inference import Synthesiser

log = logging.getLogger("pipeline.speak")
STEPS = ("read video", "landmarks", "mouth crops", "model", "vocoder")
SECTIONS = {"landmarks": LandmarksParams, "evaluate": EvaluateParams}


@dataclass
class Speech:
    """What speaking for a video gives: the predicted log-mel (n_mels, k*T) and its waveform."""

    mel: np.ndarray
    waveform: np.ndarray
    fps: float
    frames: int


def speech_for(video: Path, synthesiser: Synthesiser, landmarks: LandmarksParams, evaluate: EvaluateParams,
               speaker: str | None = None) -> Speech:
    """Landmarks, the checkpoint's crop and features, the model and the vocoder, for one video."""
    recorded = synthesiser.checkpoint["preprocessing"]["features"]
    crop = CropParams(recorded["mode"], recorded["size"], recorded["padding"], recorded["grayscale"])
    progress = tqdm(total=len(STEPS), desc="speak", unit="step")

    def step(index: int) -> None:
        progress.n = index
        progress.set_postfix_str(STEPS[index])

    try:
        step(0)
        info = probe_video(video)
        synthesiser.audio.hop_length(info.fps)  # the model's audio settings must fit this frame rate
        gray = read_video(video, grayscale=True)
        step(1)
        track = landmarks_of(gray, landmarks)
        if isinstance(track, str):
            raise StageError(f"{video}: {track}")
        step(2)
        frames = gray if crop.grayscale else read_video(video)
        features = video_features(mouth_crops(frames, track.points, crop), recorded["derivatives"])
        step(3)
        mel = synthesiser.predict(synthesiser.normalizer.video(features), speaker, evaluate.sigma, evaluate.seed)
        step(4)
        waveform = synthesiser.vocode(mel[None], info.fps)[0]
        progress.update(1)
    except MediaError as error:
        raise StageError(f"{video}: {error}") from error
    finally:
        progress.close()
    return Speech(mel, waveform, info.fps, info.frames)


def speak(video: Path, out: Path, model_path: Path, landmarks: LandmarksParams, evaluate: EvaluateParams,
          speaker: str | None = None) -> float:
    """Write the speech for `video` to `out`; returns its duration in seconds."""
    synthesiser = Synthesiser.load(model_path, evaluate.vocoder, evaluate.device)
    synthesiser.speaker_index(speaker)  # an unknown speaker fails before any work
    if speaker is not None and synthesiser.model.speaker is None:
        log.warning("this model has no speaker conditioning (model.speaker_embedding: false); --speaker changes nothing")
    speech = speech_for(video, synthesiser, landmarks, evaluate, speaker)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out, speech.waveform, synthesiser.audio.sample_rate)
    seconds = len(speech.waveform) / synthesiser.audio.sample_rate
    log.info("%s: %d frames at %g fps -> %s (%.2f s at %d Hz)", video, speech.frames, speech.fps, out, seconds,
             synthesiser.audio.sample_rate)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True, help="wav to write")
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--speaker", help="voice to use, when the model has speaker conditioning")
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH,
                        help="for the landmarks and evaluate.vocoder sections")
    args = parser.parse_args(argv)

    def body() -> float:
        sections = params_io.sections(args.params, SECTIONS)
        return speak(args.video, args.out, args.model, sections["landmarks"], sections["evaluate"], args.speaker)

    run_command(log, body)


if __name__ == "__main__":
    main()
