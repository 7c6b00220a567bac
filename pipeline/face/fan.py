"""The face-alignment package's FAN (2D, 68 points) as a landmarks backend.

FAN needs weights: by default the package's own download (cached in torch hub's
`checkpoints/2DFAN4-11f355bf06.pth.tar`, so a pre-seeded cache works offline), or a local file
(`landmarks.weights`). Boxes come from dlib's offline detector and tracker; FAN then predicts the
landmarks of many frames per network call, on CUDA when present. The package is installed with
`pip install --no-deps face-alignment`, because its declared dependencies would replace the
headless OpenCV with the GUI one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.compute.device import resolve_device
from pipeline.errors import MissingInput
from pipeline.face.detector import DlibLandmarker, FaceLandmarks

WEIGHTS_NAME = "2DFAN-4"


class FanLandmarker:
    """dlib's detector for boxes, FAN for the 68 points."""

    def __init__(self, weights: str | None = None, device: str = "auto", upsample: int = 0,
                 batch_size: int = 16) -> None:
        import torch
        from face_alignment.api import models_urls
        from face_alignment.models import FAN
        from face_alignment.utils import load_file_from_url

        path = Path(weights) if weights else Path(load_file_from_url(models_urls[WEIGHTS_NAME]))
        if not path.is_file():
            raise MissingInput(f"FAN weights not found at {path}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.network = FAN(4)
        self.network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.network.to(self.device).eval()
        self.detector = DlibLandmarker(upsample=upsample)

    def detect(self, image: np.ndarray) -> FaceLandmarks | None:
        found = self.detector.detect(image)
        if found is None:
            return None
        return FaceLandmarks(found.box, self.predict(image, found.box))

    def predict(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        return self.predict_batch(image[None], np.asarray([box], np.float32))[0]

    def predict_batch(self, images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """68 points (N, 68, 2) for N images (grayscale or RGB) and their face boxes (N, 4)."""
        import torch
        from face_alignment.utils import CENTER_Y_OFFSET, REFERENCE_SCALE, crop, get_preds_fromhm

        centres, scales, crops = [], [], []
        # face_alignment's helpers take float64 centres (float32 numpy scalars break them).
        for image, (left, top, right, bottom) in zip(images, np.asarray(boxes, np.float64), strict=True):
            rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
            centre = np.array([(left + right) / 2, (top + bottom) / 2 - (bottom - top) * CENTER_Y_OFFSET])
            scale = float(right - left + bottom - top) / REFERENCE_SCALE
            centres.append(centre)
            scales.append(scale)
            crops.append(crop(rgb, centre, scale).transpose(2, 0, 1).astype(np.float32) / 255.0)
        outputs = []
        with torch.inference_mode():
            batch = torch.from_numpy(np.stack(crops))
            for start in range(0, len(batch), self.batch_size):
                output = self.network(batch[start:start + self.batch_size].to(self.device))
                output = output[-1] if isinstance(output, (list, tuple)) else output
                outputs.append(output.float().cpu().numpy())
        heatmaps = np.concatenate(outputs)
        points = [get_preds_fromhm(heatmaps[i:i + 1], centres[i], scales[i])[1].reshape(68, 2)
                  for i in range(len(heatmaps))]
        return np.stack(points).astype(np.float32)
