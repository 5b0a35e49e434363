"""`--TYPE encode`: real photos projected into a run's latent space, written with their
reconstructions and how far each reconstruction is from its photo.

    latents.npz     names (str (N,), the photos' paths) and latents (float32 (N, latent_dim))
    recon_0000.png  the generator's image of each latent, in the photos' order
    grid.png        the photos in the top row, their reconstructions below
    summary.json    checkpoint, steps, mean_abs_error and the per-photo values
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gan import images
from gan.errors import printable


def reconstruction_errors(photos: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """float64 (N,): the mean absolute difference of each pair of uint8 (N, S, S, C) images,
    in [0, 255] units."""
    difference = photos.astype(np.float64) - reconstructions.astype(np.float64)
    return np.abs(difference).mean(axis=(1, 2, 3))


def encode_photos(generator, photos: np.ndarray, files: list[Path], steps: int,
                  out_dir: Path) -> dict:
    """Encode uint8 `photos` (N, S, S, C), read from `files`, with `generator`
    (gan.generate.Generator) in `steps` steps, write the files above into `out_dir` (made if
    needed) and return the summary. Raises what Generator.encode raises."""
    latents = generator.encode(photos, steps)
    reconstructions = generator.from_latents(latents)
    errors = reconstruction_errors(photos, reconstructions)
    names = [printable(str(f)) for f in files]
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "latents.npz", names=np.array(names), latents=latents)
    for k, picture in enumerate(reconstructions):
        images.write_png(out_dir / f"recon_{k:04d}.png", picture)
    images.write_png(out_dir / "grid.png", images.make_grid(
        np.concatenate([photos, reconstructions]), cols=len(photos)))
    summary = {"checkpoint": generator.folder.name, "steps": steps,
               "mean_abs_error": round(float(errors.mean()), 3),
               "images": [{"file": name, "reconstruction": f"recon_{k:04d}.png",
                           "mean_abs_error": round(float(e), 3)}
                          for k, (name, e) in enumerate(zip(names, errors))]}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
