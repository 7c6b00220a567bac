"""How each mouth-crop mode frames real mouths: the landmarks mapped into the crops by the stored
transforms, measured per video and summarised per mode.

    lip2speech framing [VIDEO ...]   # or python -m pipeline.face.framing; default: the real GRID videos of tests/data

Per mode, over the videos (dlib landmarks, as the landmarks stage finds them):
- centre x, y: the mouth's centre (mean of points 49-68) as a share of the crop, mean ± std
  across videos (speakers) of each video's mean;
- jitter: the centre's frame-to-frame motion, % of the mouth's width (mean over frames);
- angle: the mouth corners' line against the horizontal, degrees, mean ± std over frames;
- width: the lips' width (corner to corner) as a share of the crop's side, mean, and how much it
  varies across videos (std / mean of the per-video means, %);
- margin: the smallest distance of a lip corner to the crop's left or right edge, share of the
  side, over every frame.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from pipeline.face.crop import LEFT_CORNER, MOUTH, RIGHT_CORNER, CropParams, apply, mouth_crops
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.io.media import read_video

log = logging.getLogger(__name__)
TEST_VIDEOS = Path(__file__).resolve().parents[2] / "tests" / "data" / "real_grid"
MODES = (CropParams("fixed", 64, 10), CropParams("tracked", 64, 10), CropParams("aligned", 64, 10),
         CropParams("avsr", 96))


def mapped_mouth(points: np.ndarray, transforms: np.ndarray, size: int) -> np.ndarray:
    """The 68 landmarks' mouth points (T, 20, 2) in crop coordinates as shares of the side (0 is the
    crop's left or top edge, 1 its right or bottom edge)."""
    return (apply(transforms, np.asarray(points, np.float64)[:, MOUTH]) + 0.5) / size


def video_framing(points: np.ndarray, transforms: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Per frame of one video: mouth centre (T, 2), corner angle (deg), width and corner margin
    (shares of the side)."""
    mouth = mapped_mouth(points, transforms, size)
    left, right = mouth[:, LEFT_CORNER - MOUTH[0]], mouth[:, RIGHT_CORNER - MOUTH[0]]
    corners_x = np.stack([left[:, 0], right[:, 0]], axis=1)
    return {
        "centre": mouth.mean(axis=1),
        "angle": np.degrees(np.arctan2(right[:, 1] - left[:, 1], right[:, 0] - left[:, 0])),
        "width": np.linalg.norm(right - left, axis=1),
        "margin": np.minimum(corners_x, 1 - corners_x).min(axis=1),
    }


def summary(videos: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """One mode's figures over the videos (see the module docstring)."""
    centres = np.stack([v["centre"].mean(axis=0) for v in videos])
    widths = np.array([v["width"].mean() for v in videos])
    jitter = np.concatenate([np.linalg.norm(np.diff(v["centre"], axis=0), axis=1) / v["width"][1:] for v in videos])
    angles = np.concatenate([v["angle"] for v in videos])
    return {
        "centre_x": float(centres[:, 0].mean()), "centre_x_std": float(centres[:, 0].std()),
        "centre_y": float(centres[:, 1].mean()), "centre_y_std": float(centres[:, 1].std()),
        "jitter_percent": float(100 * jitter.mean()),
        "angle": float(angles.mean()), "angle_std": float(angles.std()),
        "width": float(widths.mean()), "width_variation_percent": float(100 * widths.std() / widths.mean()),
        "margin": float(min(v["margin"].min() for v in videos)),
    }


def measure(videos: list[Path], modes: tuple[CropParams, ...] = MODES) -> dict[str, dict[str, float]]:
    """Each mode's figures over the videos."""
    tracks = []
    for video in videos:
        frames = read_video(video, grayscale=True)
        track = landmarks_of(frames, LandmarksParams())
        if isinstance(track, str):
            raise SystemExit(f"{video}: {track}")
        tracks.append((frames, track.points))
    figures = {}
    for params in modes:
        per_video = []
        for frames, points in tracks:
            transforms = mouth_crops(frames, points, params).transforms
            per_video.append(video_framing(points, transforms, params.size))
        figures[f"{params.mode} {params.size}"] = summary(per_video)
    return figures


def table(figures: dict[str, dict[str, float]]) -> str:
    """A markdown table, a row per mode."""
    lines = ["| mode | centre x | centre y | jitter (% of width) | angle (°) | lips / side | width varies | "
             "closest corner to an edge |", "|---|---|---|---|---|---|---|---|"]
    for mode, f in figures.items():
        lines.append(f"| {mode} | {f['centre_x']:.3f} ± {f['centre_x_std']:.3f} | {f['centre_y']:.3f} ± "
                     f"{f['centre_y_std']:.3f} | {f['jitter_percent']:.2f} | {f['angle']:.1f} ± {f['angle_std']:.1f} | "
                     f"{100 * f['width']:.0f} % | {f['width_variation_percent']:.1f} % | {100 * f['margin']:.1f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  lip2speech framing                       # the real GRID videos of tests/data\n"
               "  lip2speech framing a.mp4 b.mp4")
    parser.add_argument("videos", nargs="*", type=Path, help="videos of one speaking face each")
    videos = parser.parse_args(argv).videos or sorted(TEST_VIDEOS.glob("*.mpg"))
    log.info("%d videos: %s", len(videos), ", ".join(v.name for v in videos))
    print(table(measure(videos)))


if __name__ == "__main__":
    main()
