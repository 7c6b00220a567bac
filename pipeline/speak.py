"""Speak for one video of a speaking face: the whole chain, with the code the stages use.

    lip2speech speak VIDEO -o OUT.wav [--model data/model.pt] [--speaker s1 | --voice FILE]
    python -m pipeline.speak ...                 # the same

Any container frame rate, or a variable one: the video is resampled by its timestamps to the rate
the model was trained at, so the speech stays in step with it. Long recordings stream through in
bounded memory: windows of `evaluate.window` frames overlapping by `evaluate.overlap`, each
through landmarks (the params file's `landmarks` section: detection is not part of the model),
the checkpoint's mouth crop and features (pipeline.face.stream, in a process of its own that
works ahead while this one runs the model and the vocoder), normalisation, and the model; the
mels crossfade over the overlaps and are vocoded block by block (`evaluate.vocoder`) straight into
the wav, which lasts as long as the video. A window without a findable face speaks silence (with a warning).
Whose voice: a model with a speaker table speaks as a training speaker (`--speaker`, the first by
default); a voice-conditioned model as the speaker of a recording (`--voice FILE`: a wav, or a
video with sound, e.g. from before the voice was lost). An unreadable video, a video without a face
anywhere, an unknown speaker or a voice model without a recording ends with a one-line reason and
exit status 1.
"""
from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from pipeline.compute.windows import prefetched
from pipeline.errors import StageError, run_command
from pipeline.face.crop import CropParams
from pipeline.face.landmarks import LandmarksParams
from pipeline.face.stream import feature_windows, in_background
from pipeline.io import params as params_io
from pipeline.io.files import replacing
from pipeline.io.media import MediaError, probe_video
from pipeline.learn.evaluation import EvaluateParams
from pipeline.learn.inference import Synthesiser

log = logging.getLogger("pipeline.speak")
SECTIONS = {"landmarks": LandmarksParams, "evaluate": EvaluateParams}


@dataclass
class Progress:
    """What streaming a video found so far: frames read and frames in windows without a face."""

    frames: int = 0
    faceless: int = 0
    reasons: list[str] = field(default_factory=list)


def model_windows(video: Path, synthesiser: Synthesiser, landmarks: LandmarksParams, evaluate: EvaluateParams,
                  progress: Progress, bar: tqdm, background: bool = True) -> Iterator[torch.Tensor | int]:
    """The video as windows of normalised features (C, T, S, S), resampled to the model's frame
    rate; a window without a usable face comes as its number of frames (it speaks silence). With
    `background`, the face tracking runs in a process of its own, ahead of the model."""
    recorded = synthesiser.checkpoint["preprocessing"]["features"]
    crop = CropParams(recorded["mode"], recorded["size"], recorded["padding"], recorded["grayscale"])
    windows = (in_background if background else feature_windows)(
        video, crop, recorded["derivatives"], landmarks, synthesiser.fps, evaluate.window, evaluate.overlap)
    for window in windows:
        progress.frames += window.new
        bar.update(window.new / synthesiser.fps)
        if window.features is None:
            progress.faceless += window.new
            progress.reasons.append(window.reason)
            log.warning("%s: frames %d-%d: %s; they speak silence", video, progress.frames - window.new,
                        progress.frames - 1, window.reason)
            yield window.frames
            continue
        yield synthesiser.normalizer.video(window.features)


def enrolment_of(synthesiser: Synthesiser, speaker: str | None, voice: Path | None) -> torch.Tensor | None:
    """The model's voice conditioning for `--speaker` and `--voice`, checked before any work: a
    speaker the model was not trained on or a voice model without a recording fails; what the
    model does not use is said to change nothing."""
    if speaker is not None:
        synthesiser.check_speaker(speaker)
        if synthesiser.conditioning != "table":
            log.warning("this model has no speaker table (model.speaker_embedding: %s); --speaker changes nothing",
                        synthesiser.conditioning)
    if synthesiser.conditioning != "voice":
        if voice is not None:
            log.warning("this model does not condition on a recording (model.speaker_embedding: %s); --voice "
                        "changes nothing", synthesiser.conditioning)
        return None
    return synthesiser.enrolment(synthesiser.recording_mel(voice) if voice is not None else None)


def speech_mel(video: Path, synthesiser: Synthesiser, landmarks: LandmarksParams, evaluate: EvaluateParams,
               speaker: str | None = None, voice: Path | None = None) -> np.ndarray:
    """The whole predicted log-mel (n_mels, k*T) of a video, as `speak` makes it (for tests and
    notebooks: it holds the whole mel in memory)."""
    enrolled = enrolment_of(synthesiser, speaker, voice)
    with tqdm(disable=True) as bar:
        windows = model_windows(video, synthesiser, landmarks, evaluate, Progress(), bar, background=False)
        return np.concatenate(list(synthesiser.predict_windows(windows, evaluate.overlap, speaker, evaluate.sigma,
                                                               evaluate.seed, enrolled)), axis=1)


def speak(video: Path, out: Path, model_path: Path, landmarks: LandmarksParams, evaluate: EvaluateParams,
          speaker: str | None = None, voice: Path | None = None) -> float:
    """Write the speech for `video` to `out` (in bounded memory); returns its duration in seconds.
    `speaker`: the voice of a training speaker (a model with a speaker table); `voice`: a recording
    of the speaker to speak for (a wav, or a video with sound; a voice-conditioned model)."""
    synthesiser = Synthesiser.load(model_path, evaluate.vocoder, evaluate.device)
    enrolled = enrolment_of(synthesiser, speaker, voice)
    fps, rate = synthesiser.fps, synthesiser.audio.sample_rate
    progress = Progress()
    threads = torch.get_num_threads()
    # The face tracking has a core of its own (its process); torch takes the others.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    try:
        info = probe_video(video)
        with tqdm(total=round(info.span, 1), desc="speak", unit="s", bar_format="{l_bar}{bar}| {n:.1f}/{total} s") \
                as bar, replacing(out) as partial:
            windows = model_windows(video, synthesiser, landmarks, evaluate, progress, bar)
            # Three stages at once: face tracking (its own process), the model (a thread), the vocoder (here).
            mels = prefetched(synthesiser.predict_windows(windows, evaluate.overlap, speaker, evaluate.sigma,
                                                          evaluate.seed, enrolled))
            with soundfile.SoundFile(partial, "w", rate, 1, "PCM_16", format="WAV") as wav:
                for chunk in synthesiser.vocode_stream(mels, fps):
                    wav.write(chunk)
            if progress.faceless == progress.frames:
                reason = progress.reasons[0] if len(progress.reasons) == 1 else \
                    f"no usable face in any window of its {progress.frames} frames"
                raise StageError(f"{video}: {reason}")
    except MediaError as error:
        raise StageError(f"{video}: {error}") from error
    finally:
        torch.set_num_threads(threads)
    seconds = progress.frames / fps
    log.info("%s: %d source frames at %g fps -> %d at %g fps -> %s (%.2f s at %d Hz)", video, info.frames, info.fps,
             progress.frames, fps, out, seconds, rate)
    return seconds


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  lip2speech speak clip.mp4 -o speech.wav\n"
               "  lip2speech speak clip.mpg -o speech.wav --model data/model.pt --speaker s2\n"
               "  lip2speech speak clip.mp4 -o speech.wav --voice before_surgery.wav   # a voice-conditioned model")
    parser.add_argument("video", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True, help="wav to write")
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--speaker", help="a training speaker's voice (a model with model.speaker_embedding: table)")
    parser.add_argument("--voice", type=Path, metavar="FILE",
                        help="a recording of the speaker to speak for, a wav or a video with sound: its voice "
                             "(a model with model.speaker_embedding: voice)")
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH,
                        help="for the landmarks and evaluate sections")
    args = parser.parse_args(argv)

    def body() -> float:
        sections = params_io.sections(args.params, SECTIONS)
        return speak(args.video, args.out, args.model, sections["landmarks"], sections["evaluate"], args.speaker,
                     args.voice)

    run_command(log, body)


if __name__ == "__main__":
    main()
