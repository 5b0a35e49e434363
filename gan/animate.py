"""Animations: latent-space interpolation between seeds or encoded photos, and the training
timelapse.

Each is written as an animated GIF (Pillow) and an MP4 (MPEG-4 Part 2, by the FFmpeg that
ships inside the opencv-python wheel: nothing else is installed or downloaded).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2
import numpy as np

from gan import images
from gan.runs import Run

FRAME_MS = 80  # 12.5 frames per second
TIMELAPSE_FRAMES = 30  # at most: about 2 MB at 64 px
_EPOCH_PNG = re.compile(r"^epoch_(\d{4})\.png$")


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latents a and b (float32 (D,)), t in [0, 1].

    Follows the great circle between them (White 2016, "Sampling Generative Networks"), so
    every frame has the norm a Gaussian latent typically has; falls back to a straight line
    when a and b are (anti)parallel.
    """
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(
        np.float32)


def interpolation_latents(keys: np.ndarray, frames: int, loop: bool) -> np.ndarray:
    """float32 (frames, D) latents walking through the key latents (K, D) in order (and back
    to the first with `loop`); the keys themselves are among the frames."""
    stops = np.concatenate([keys, keys[:1]]) if loop else keys
    positions = np.linspace(0, len(stops) - 1, frames, endpoint=not loop)
    rows = []
    for p in positions:
        i = min(int(p), len(stops) - 2)
        rows.append(slerp(stops[i], stops[i + 1], p - i))
    return np.stack(rows)


def write_gif(path: Path, frames: np.ndarray, frame_ms: int = FRAME_MS) -> None:
    """Animated GIF from uint8 (N, H, W, C) RGB (or C = 1) frames, looping forever."""
    from PIL import Image

    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=frame_ms,
                     loop=0, optimize=False)


def write_mp4(path: Path, frames: np.ndarray, fps: float = 1000 / FRAME_MS) -> None:
    """MP4 from uint8 (N, H, W, C) RGB (or C = 1) frames; odd sizes are padded with white
    (the codec needs even ones). Raises OSError when OpenCV cannot open a video writer."""
    n, h, w = frames.shape[:3]
    padded = np.full((n, h + h % 2, w + w % 2, 3), 255, np.uint8)
    padded[:, :h, :w] = frames if frames.shape[-1] == 3 else frames[..., :1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (padded.shape[2], padded.shape[1]))
    if not writer.isOpened():
        raise OSError(f"could not write {path}: this OpenCV build has no MP4 encoder")
    try:
        for frame in padded:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def interpolate(generator, keys: np.ndarray, frames: int, loop: bool, out_dir: Path,
                label=None) -> Path:
    """Write interpolation.gif and .mp4 (frames enlarged 2x for viewing) of `frames` frames
    through the key latents (float32 (K, latent_dim): seeds' latents, or photos' from
    Generator.encode) and keyframes.png (the keys' images side by side) into `out_dir`;
    returns the GIF's path. A conditional generator (gan.generate.Generator) draws class
    `label` (name or index; default: its first class) throughout."""
    path = interpolation_latents(keys, frames, loop)
    if label is not None or generator.classes:
        label = generator.label_index(label if label is not None else 0)
    pictures = generator.from_latents(path, _labels(label, len(path)))
    out_dir.mkdir(parents=True, exist_ok=True)
    gif = out_dir / "interpolation.gif"
    frames = np.stack([_enlarge(p, 2) for p in pictures])
    write_gif(gif, frames)
    write_mp4(gif.with_suffix(".mp4"), frames)
    images.write_png(out_dir / "keyframes.png",
                     images.make_grid(generator.from_latents(keys, _labels(label, len(keys))),
                                      cols=len(keys)))
    return gif


def _labels(label: int | None, count: int) -> np.ndarray | None:
    return None if label is None else np.full(count, label, np.int32)


def timelapse(run_dir: Path) -> Path:
    """`<run>/timelapse.gif` and .mp4: the top-left quarter (16 faces) of the run's sample grids
    (samples/epoch_NNNN.png), at most TIMELAPSE_FRAMES of them evenly spaced from the first
    to the last, each labelled with its epoch; damaged grids are left out with a warning.
    Raises FileNotFoundError when the run has no readable sample grids."""
    run = Run(run_dir)
    grids = [p for p in run.sample_grids() if _EPOCH_PNG.match(p.name)]
    if not grids:
        raise FileNotFoundError(f"{run.samples} holds no epoch_NNNN.png grids")
    picks = np.unique(np.linspace(0, len(grids) - 1, min(len(grids), TIMELAPSE_FRAMES)
                                  ).round().astype(int))
    frames, damaged = [], []
    for path in (grids[i] for i in picks):
        frame = cv2.imread(str(path))
        if frame is None or frames and frame.shape[1] // 2 != frames[0].shape[1]:
            damaged.append(path.name)
            continue
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        frame = frame[:frame.shape[0] // 2, :frame.shape[1] // 2]
        epoch = int(_EPOCH_PNG.match(path.name).group(1))
        frames.append(_label(frame, f"epoch {epoch}"))
    if damaged:
        print(f"warning: left out {len(damaged)} damaged sample grids of {run.samples} "
              f"({', '.join(damaged[:3])}{', ...' if len(damaged) > 3 else ''})",
              file=sys.stderr)
    if not frames:
        raise FileNotFoundError(f"{run.samples} holds no readable epoch_NNNN.png grids")
    out = run.timelapse
    write_gif(out, np.stack(frames), frame_ms=2 * FRAME_MS)
    write_mp4(out.with_suffix(".mp4"), np.stack(frames), fps=500 / FRAME_MS)
    return out


def _enlarge(picture: np.ndarray, factor: int) -> np.ndarray:
    h, w = picture.shape[:2]
    big = cv2.resize(picture, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
    return big.reshape(h * factor, w * factor, -1)


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    """The frame with a white band on top holding `text` in black."""
    band = np.full((22,) + frame.shape[1:], 255, np.uint8)
    cv2.putText(band, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, frame])
