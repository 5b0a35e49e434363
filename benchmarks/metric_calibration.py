"""What the held-out scores of time_to_quality.py mean: real faces, degraded on purpose.

    python benchmarks/metric_calibration.py

Scores the 400 training faces of faces-400, untouched and degraded (Gaussian blur, a trip
through a smaller size, Gaussian pixel noise), against the same 404 held-out faces of faces-9k
that benchmarks/time_to_quality.py uses, at 64x64, and prints KD, FD, precision and recall
as a Markdown table. A generator's scores can then be read as "about as far from real faces as
real faces with noise of sigma N". The degraded sets are as varied as real faces, so a recall
near 0 among them comes from image quality, not from collapse.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.time_to_quality import DATASETS, held_out_faces  # noqa: E402
from gan import metrics  # noqa: E402
from gan.data import load_images  # noqa: E402
from gan.features import FeatureExtractor  # noqa: E402

IMG_SIZE = 64


def degradations(faces: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 (N, S, S, 3) -> {name: degraded copy}; names say the strength (sigma in pixels
    for blur, in 0-255 levels for noise)."""
    rng = np.random.default_rng(0)
    small = IMG_SIZE // 2
    out = {"none (real faces)": faces}
    for sigma in (0.6, 1.0, 1.5):
        out[f"blur sigma {sigma}"] = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in faces])
    out[f"down to {small} px and up"] = np.stack([
        cv2.resize(cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA),
                   (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_CUBIC) for f in faces])
    for sigma in (4, 8, 16):
        noisy = faces + rng.normal(0, sigma, faces.shape)
        out[f"noise sigma {sigma}"] = np.clip(noisy, 0, 255).round().astype(np.uint8)
    return out


def main() -> None:
    if not (DATASETS / "faces-400").is_dir() or not (DATASETS / "faces-9k").is_dir():
        sys.exit(f"error: needs {DATASETS}/faces-400 and faces-9k")
    extractor = FeatureExtractor()
    held_out = extractor.embed(held_out_faces(IMG_SIZE))
    faces = load_images(DATASETS / "faces-400", IMG_SIZE)
    print("| faces-400, degraded | KD | FD | precision | recall |\n|---|---|---|---|---|")
    for name, images in degradations(faces).items():
        features = extractor.embed(images)
        pr = metrics.precision_recall_density_coverage(held_out, features)
        print(f"| {name} | {metrics.kd(held_out, features)[0]:.3f} | "
              f"{metrics.fd(held_out, features):.0f} | {pr['precision']:.2f} | "
              f"{pr['recall']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
