"""Talking faces made from one real photograph (scikit-image's astronaut).

Each speaker gets its own version of the face (size, position, jaw width, face length, mouth
width, skin tone); each frame moves the jaw and lips by warping the photo's own pixels along its
68 landmarks (piecewise-affine, backward-mapped with OpenCV), paints the mouth interior dark with
teeth where the viseme shows them, and adds a small head motion. The photo smiles with its teeth
showing, so the rest shape brings the inner lips together: closed visemes (p, b, m) close the mouth.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

WIDTH, HEIGHT = 360, 288
MARGIN = 24  # canvas border around the frame, so head motion never samples outside the photo

JAW = np.arange(0, 17)
MOUTH = np.arange(48, 68)
UPPER_OUTER = np.arange(49, 54)
LOWER_OUTER = np.arange(55, 60)
UPPER_INNER = np.array([61, 62, 63])
LOWER_INNER = np.array([67, 66, 65])  # paired with UPPER_INNER, left to right
OUTER_CORNERS = np.array([48, 54])
INNER_CORNERS = np.array([60, 64])
INNER_LIP = np.arange(60, 68)
# How far each jaw point follows the chin when the mouth opens (points 2..14).
JAW_FOLLOW = {2: 0.0, 3: 0.08, 4: 0.2, 5: 0.4, 6: 0.65, 7: 0.9, 8: 1.0, 9: 0.9, 10: 0.65, 11: 0.4,
              12: 0.2, 13: 0.08, 14: 0.0}
MOUTH_REGION_POINTS = np.array(sorted(JAW_FOLLOW) + list(range(30, 36)) + list(MOUTH))

INTERIOR_RGB = (48, 22, 28)
TEETH_RGB = (222, 216, 200)


@dataclass(frozen=True)
class Look:
    """A speaker's appearance: face width in pixels, face centre offset from the frame centre,
    lower-face shape factors and skin-tone gains."""

    face_width: float
    centre_dx: float
    centre_dy: float
    jaw_width: float
    face_length: float
    mouth_width: float
    skin_darkness: float
    skin_warmth: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Look:
        return cls(
            face_width=float(rng.uniform(112, 132)),
            centre_dx=float(rng.uniform(-25, 25)),
            centre_dy=float(rng.uniform(-12, 12)),
            jaw_width=float(rng.uniform(0.92, 1.08)),
            face_length=float(rng.uniform(0.94, 1.07)),
            mouth_width=float(rng.uniform(0.92, 1.08)),
            skin_darkness=float(rng.uniform(0.6, 1.1)),
            skin_warmth=float(rng.uniform(-0.08, 0.08)),
        )


# dlib's 68 landmarks of the astronaut photo (HOG detector at upsample 0 and the 68-point
# predictor on a 1.25x upscale, divided back). Computing them costs ~0.8 s of predictor loading in
# every worker, so they are kept here; tests/corpora/test_synthetic.py checks that dlib still finds
# them.
PHOTO_LANDMARKS = np.array([
    (179.2, 104.8), (179.2, 116.8), (180.0, 128.0), (181.6, 139.2), (184.8, 150.4), (191.2, 160.8),
    (200.0, 168.8), (209.6, 176.0), (220.8, 178.4), (232.0, 177.6), (243.2, 171.2), (253.6, 164.0),
    (260.8, 154.4), (264.8, 143.2), (268.0, 132.0), (270.4, 120.8), (272.0, 108.8), (186.4, 93.6),
    (192.8, 88.0), (200.8, 87.2), (208.8, 88.8), (216.8, 92.8), (236.0, 94.4), (244.0, 91.2),
    (252.0, 90.4), (260.0, 92.0), (265.6, 98.4), (225.6, 102.4), (225.6, 110.4), (225.6, 119.2),
    (225.6, 127.2), (214.4, 131.2), (219.2, 132.8), (224.0, 134.4), (229.6, 132.8), (234.4, 132.0),
    (195.2, 101.6), (200.8, 97.6), (207.2, 98.4), (212.8, 104.0), (206.4, 104.0), (200.0, 104.0),
    (237.6, 105.6), (243.2, 100.8), (249.6, 100.8), (255.2, 104.8), (250.4, 106.4), (244.0, 106.4),
    (200.0, 139.2), (208.8, 139.2), (217.6, 139.2), (223.2, 140.8), (229.6, 140.0), (237.6, 140.0),
    (245.6, 140.8), (237.6, 151.2), (228.8, 155.2), (222.4, 156.0), (216.0, 155.2), (207.2, 149.6),
    (203.2, 140.0), (216.8, 143.2), (223.2, 144.0), (228.8, 144.0), (242.4, 142.4), (228.8, 150.4),
    (222.4, 150.4), (216.8, 149.6),
])
PHOTO_UPSCALE = 1.25  # the face is ~88 px wide; HOG finds it reliably at ~110 px


@functools.lru_cache(maxsize=1)
def photo() -> np.ndarray:
    """scikit-image's astronaut photograph (512 x 512 RGB)."""
    from skimage import data

    return data.astronaut()


def piecewise_affine(image: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray,
                     box: tuple[int, int, int, int]) -> np.ndarray:
    """Warp `image` so that points `src` land on `dst`; returns the (y0:y1, x0:x1) part of the result.

    Backward mapping: every output pixel of a destination triangle samples the source through that
    triangle's affine map. Pixels in no triangle (or in collapsed ones) keep their own position.
    """
    x0, y0, x1, y1 = box
    d, s = dst[triangles], src[triangles]  # (K, 3, 2)
    edges = d[:, 1:] - d[:, :1]
    area = edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 1, 0] * edges[:, 0, 1]
    # Collapsed triangles map nothing; unmoved ones are the identity, which index 0 already is.
    moved = np.abs(d - s).max(axis=(1, 2)) > 1e-6
    keep = (np.abs(area) > 1e-3) & moved
    d, s = d[keep], s[keep]
    # Per triangle, solve [x y 1] @ X = [u v] for the dst -> src affine X (3 x 2).
    homogeneous = np.concatenate([d, np.ones((len(d), 3, 1))], axis=2)
    affine = np.linalg.solve(homogeneous, s)
    table = np.zeros((len(d) + 1, 6), np.float32)
    table[0] = (1, 0, 0, 0, 1, 0)  # identity outside every triangle
    table[1:] = affine.transpose(0, 2, 1).reshape(-1, 6)
    index = np.zeros((y1 - y0, x1 - x0), np.int32)
    corners = np.round((d - (x0, y0)) * 16).astype(np.int32)
    for k, triangle in enumerate(corners, start=1):
        cv2.fillConvexPoly(index, triangle, k, lineType=cv2.LINE_8, shift=4)
    c = table[index]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    map_x = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
    map_y = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _box_outline(x0: float, y0: float, x1: float, y1: float, per_side: int = 4) -> np.ndarray:
    """Points spaced along a rectangle's border (corners included), fixed anchors for a warp."""
    t = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    top = np.stack([x0 + t * (x1 - x0), np.full_like(t, y0)], 1)
    right = np.stack([np.full_like(t, x1), y0 + t * (y1 - y0)], 1)
    bottom = np.stack([x1 - t * (x1 - x0), np.full_like(t, y1)], 1)
    left = np.stack([np.full_like(t, x0), y1 - t * (y1 - y0)], 1)
    return np.concatenate([top, right, bottom, left])


class Face:
    """One speaker's face on a canvas the size of the frame plus a margin, ready to articulate."""

    def __init__(self, look: Look) -> None:
        photo_points = PHOTO_LANDMARKS
        self.look = look
        canvas_w, canvas_h = WIDTH + 2 * MARGIN, HEIGHT + 2 * MARGIN
        photo_width = np.ptp(photo_points[JAW, 0])
        scale = look.face_width / photo_width
        photo_centre = photo_points[27:36].mean(0)  # nose: a stable face centre
        target = np.array([canvas_w / 2 + look.centre_dx, canvas_h / 2 + look.centre_dy - 10])
        to_canvas = np.array([[scale, 0, target[0] - scale * photo_centre[0]],
                              [0, scale, target[1] - scale * photo_centre[1]]])
        canvas = cv2.warpAffine(photo(), to_canvas, (canvas_w, canvas_h), flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_REFLECT)
        points = photo_points @ to_canvas[:, :2].T + to_canvas[:, 2]
        shaped = self._reshape(points)
        anchors = _box_outline(0, 0, canvas_w - 1, canvas_h - 1)
        src, dst = np.concatenate([points, anchors]), np.concatenate([shaped, anchors])
        canvas = piecewise_affine(canvas, src, dst, Delaunay(dst).simplices, (0, 0, canvas_w, canvas_h))
        self.canvas = self._tone(canvas, shaped)
        self.rest = self._close_lips(shaped)
        self.max_opening = 0.12 * look.face_width

        jaw_low = self.rest[sorted(JAW_FOLLOW)]
        x0 = int(np.floor(jaw_low[:, 0].min() - 8))
        x1 = int(np.ceil(jaw_low[:, 0].max() + 8))
        y0 = int(np.floor(self.rest[30, 1]))
        y1 = int(np.ceil(self.rest[8, 1] + 1.2 * self.max_opening + 14))
        self.box = (x0, y0, x1, min(y1, canvas_h))
        self._region_anchors = _box_outline(x0, y0, x1 - 1, self.box[3] - 1)
        # The lips as shaped (teeth gap open) are the source; triangulate there so that closing
        # the gap collapses the interior triangles instead of folding the lips.
        region_src = np.concatenate([shaped[MOUTH_REGION_POINTS], self._region_anchors])
        self._region_src = region_src
        self._triangles = Delaunay(region_src).simplices

    def _reshape(self, points: np.ndarray) -> np.ndarray:
        """Jaw width, lower-face length and mouth width of this speaker."""
        look, out = self.look, points.copy()
        nose = points[33]
        lower = np.concatenate([JAW[3:14], MOUTH])
        out[JAW[3:14], 0] = nose[0] + (points[JAW[3:14], 0] - nose[0]) * look.jaw_width
        out[lower, 1] = nose[1] + (points[lower, 1] - nose[1]) * look.face_length
        mouth_centre = out[MOUTH].mean(0)
        out[MOUTH, 0] = mouth_centre[0] + (out[MOUTH, 0] - mouth_centre[0]) * look.mouth_width
        return out

    def _tone(self, canvas: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Skin tone: per-channel gains inside a soft mask over the face and forehead."""
        look = self.look
        face_height = points[8, 1] - points[19:25, 1].min()
        forehead = points[17:27] - (0, 0.45 * face_height)
        hull = cv2.convexHull(np.concatenate([points[JAW], forehead]).astype(np.float32))
        mask = np.zeros(canvas.shape[:2], np.float32)
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0)
        soft = cv2.GaussianBlur(mask, (0, 0), 6)[..., None]
        gains = look.skin_darkness * np.array([1 + look.skin_warmth, 1.0, 1 - look.skin_warmth])
        toned = canvas.astype(np.float32) * (1 + soft * (gains - 1))
        return np.clip(toned + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _close_lips(points: np.ndarray) -> np.ndarray:
        """Rest shape: each inner upper/lower lip pair meets halfway, over the photo's teeth."""
        out = points.copy()
        middle = (points[UPPER_INNER, 1] + points[LOWER_INNER, 1]) / 2
        out[UPPER_INNER, 1] = middle
        out[LOWER_INNER, 1] = middle
        return out

    def articulate(self, opening: float, width: float, rounding: float) -> np.ndarray:
        """68 landmarks (canvas coordinates) for one mouth shape; opening in 0..1."""
        out = self.rest.copy()
        px = opening * self.max_opening
        centre_x = out[MOUTH, 0].mean()
        out[MOUTH, 0] = centre_x + (out[MOUTH, 0] - centre_x) * width
        pout = rounding * 0.05 * np.ptp(self.rest[MOUTH, 0])
        out[UPPER_OUTER, 1] -= pout + 0.05 * px
        out[LOWER_OUTER, 1] += pout + px
        out[LOWER_INNER, 1] += px
        out[UPPER_INNER, 1] -= 0.12 * px
        out[OUTER_CORNERS, 1] += 0.45 * px
        out[INNER_CORNERS, 1] += 0.45 * px
        for index, follow in JAW_FOLLOW.items():
            out[index, 1] += follow * px
        return out

    def render_mouth(self, points: np.ndarray, teeth: float) -> np.ndarray:
        """The canvas with the mouth warped onto `points` and its interior painted."""
        x0, y0, x1, y1 = self.box
        dst = np.concatenate([points[MOUTH_REGION_POINTS], self._region_anchors])
        canvas = self.canvas.copy()
        region = piecewise_affine(self.canvas, self._region_src, dst, self._triangles, self.box)
        gap = points[LOWER_INNER, 1] - points[UPPER_INNER, 1]
        if gap.max() > 0.8:
            inner = np.round((points[INNER_LIP] - (x0, y0)) * 16).astype(np.int32)
            cv2.fillPoly(region, [inner], INTERIOR_RGB, lineType=cv2.LINE_AA, shift=4)
            if teeth > 0.05:
                upper = points[[60, 61, 62, 63, 64]]
                lower_limit = points[[60, 67, 66, 65, 64], 1]
                depth = teeth * min(0.6 * gap.max(), 0.035 * self.look.face_width)
                band_bottom = np.stack([upper[:, 0], np.minimum(upper[:, 1] + depth, lower_limit)], 1)
                band = np.concatenate([upper, band_bottom[::-1]])
                clip = np.zeros(region.shape[:2], np.uint8)
                cv2.fillPoly(clip, [inner], 255, lineType=cv2.LINE_8, shift=4)
                teeth_layer = region.copy()
                cv2.fillPoly(teeth_layer, [np.round((band - (x0, y0)) * 16).astype(np.int32)], TEETH_RGB,
                             lineType=cv2.LINE_AA, shift=4)
                region = np.where(clip[..., None] > 0, teeth_layer, region)
        canvas[y0:y1, x0:x1] = region
        return canvas


def head_motion(rng: np.random.Generator, n_frames: int, fps: float) -> np.ndarray:
    """Smooth small head motion per frame: (dx px, dy px, rotation deg, scale factor)."""
    t = np.arange(n_frames) / fps
    amplitudes = np.array([2.5, 2.0, 1.5, 0.015])
    motion = np.zeros((n_frames, 4))
    for k in range(4):
        for _ in range(2):
            frequency, phase = rng.uniform(0.15, 0.7), rng.uniform(0, 2 * np.pi)
            motion[:, k] += amplitudes[k] / 2 * np.sin(2 * np.pi * frequency * t + phase)
    motion[:, 3] += 1.0
    return motion


def frame_transform(motion: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Canvas -> frame affine for one frame of head motion, rotating about the face centre."""
    dx, dy, degrees, scale = motion
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(degrees), float(scale))
    matrix[:, 2] += (dx - MARGIN, dy - MARGIN)
    return matrix


def render(face: Face, tracks: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, HEIGHT, WIDTH, 3) uint8 RGB and the true landmarks (T, 68, 2) in frame pixels."""
    n_frames = len(tracks)
    frames = np.empty((n_frames, HEIGHT, WIDTH, 3), np.uint8)
    landmarks = np.empty((n_frames, 68, 2), np.float32)
    centre = face.rest[27:36].mean(0)
    for t, (opening, width, rounding, teeth) in enumerate(tracks):
        points = face.articulate(opening, width, rounding)
        canvas = face.render_mouth(points, teeth)
        matrix = frame_transform(motion[t], centre)
        frames[t] = cv2.warpAffine(canvas, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
        landmarks[t] = points @ matrix[:, :2].T + matrix[:, 2]
    return frames, landmarks
