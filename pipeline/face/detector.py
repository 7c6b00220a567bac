"""Face detection and 68-point (iBUG) landmarks with dlib: HOG frontal-face detector and the
shape predictor that face_recognition_models ships. Fully offline."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceLandmarks:
    """One face: box (left, top, right, bottom) in pixels and 68 (x, y) points."""

    box: tuple[int, int, int, int]
    points: np.ndarray


class DlibLandmarker:
    """dlib's HOG detector + 68-point predictor; keeps the largest face in a frame."""

    def __init__(self, upsample: int = 0) -> None:
        import dlib

        with warnings.catch_warnings():
            # face_recognition_models imports pkg_resources, which warns on import.
            warnings.simplefilter("ignore")
            import face_recognition_models

        self._dlib = dlib
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def find_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
        """The box (left, top, right, bottom) of the largest face in an RGB or grayscale uint8
        image, or None."""
        faces = self._detector(image, self.upsample)
        if len(faces) == 0:
            return None
        largest = max(faces, key=lambda r: r.width() * r.height())
        return (largest.left(), largest.top(), largest.right(), largest.bottom())

    def detect(self, image: np.ndarray) -> FaceLandmarks | None:
        """The largest face and its landmarks, or None."""
        box = self.find_box(image)
        return None if box is None else FaceLandmarks(box, self.predict(image, box))

    def predict(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """68 landmarks (float32, 68 x 2) fitted inside a known face box."""
        shape = self._predictor(image, self._dlib.rectangle(*(int(v) for v in box)))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)
