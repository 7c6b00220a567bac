"""Stage `derivatives`: video features from the mouth crops: the frame, its first and second
temporal difference.

T x C x S x S int16 per utterance (the reader hands out C x T x S x S); pipeline.face.features."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.errors import StageError
from pipeline.face.features import FEATURE_DTYPE, FeatureParams, channel_names, video_features
from pipeline.io.store import StoreParams, StoreReader, StoreWriter
from pipeline.stages import Stage

log = logging.getLogger(__name__)
CROP_ATTRS = ("mode", "size", "padding", "grayscale")


def run(features: FeatureParams, store: StoreParams, mouths: Path, out: Path) -> int:
    crops = StoreReader(mouths)
    if not crops.ids:
        raise StageError(f"{mouths} holds no utterance")
    first = video_features(crops.read(crops.ids[0], ["crops"])["crops"], features.derivatives)
    channels = channel_names(features.derivatives, colour=not crops.attrs["grayscale"])
    # The crop settings travel with the features (and into checkpoints), so `speak` can redo them.
    attrs = {"channels": channels, "derivatives": features.derivatives, "source": str(mouths),
             **{key: crops.attrs[key] for key in CROP_ATTRS}}
    typical = int(np.median(list(crops.lengths.values())))
    field = {"video": (first.shape[1:], np.dtype(FEATURE_DTYPE).name)}
    with StoreWriter(out, field, typical, store.for_training(), attrs) as writer:
        for utterance_id in tqdm(crops.ids, desc="derivatives", unit="utt", mininterval=0.5):
            frames = crops.read(utterance_id, ["crops"])["crops"]
            writer.write(utterance_id, video=video_features(frames, features.derivatives))
    log.info("%d utterances, channels %s", len(crops.ids), ", ".join(channels))
    return len(crops.ids)


STAGE = Stage(
    run,
    params={"features": FeatureParams, "store": StoreParams},
    inputs={"mouths": "data/mouths"},
    outputs={"out": "data/features"},
)
