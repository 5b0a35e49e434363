"""Generating images from a trained run: loads the generator only, never D or the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan import images
from gan.config import TrainConfig
from gan.errors import UsageError

BATCH = 64


def next_output_dir(run_dir: Path) -> Path:
    """A new numbered folder `<run>/generated/<k>/`; never one that exists."""
    parent = run_dir / "generated"
    parent.mkdir(exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    return parent / f"{max(taken, default=-1) + 1:04d}"


def load_generator(run_dir: Path, checkpoint: str):
    """The run's generator (a keras.Model) with the weights of `checkpoint`, and its folder.

    `checkpoint` is latest, best, a checkpoint name or a folder. Raises UsageError when it
    does not exist or cannot be loaded.
    """
    from gan.checkpoints import CheckpointStore
    from gan.networks import build_generator

    config = TrainConfig.load(run_dir / "config.json")
    generator = build_generator(config.latent_dim, config.img_size, config.width)
    store = CheckpointStore(run_dir / "checkpoints", generator=generator)
    folder = store.resolve(checkpoint)
    try:
        store.restore(folder, partial=True)
    except Exception as error:  # noqa: BLE001 - truncated file, other architecture, ...
        raise UsageError(f"checkpoint {folder} could not be loaded ({type(error).__name__}); "
                         "choose another with --checkpoint (see its checkpoints/ folder)"
                         ) from None
    return generator, folder


def generate_images(generator, num: int, seed: int) -> np.ndarray:
    """uint8 (num, S, S, 3) images from latents drawn from N(0, 1) by NumPy, seeded by `seed`."""
    latent_dim = generator.input_shape[-1]
    latents = np.random.default_rng(seed).standard_normal((num, latent_dim)).astype(np.float32)
    return np.concatenate([images.to_uint8(generator(latents[i:i + BATCH], training=False))
                           for i in range(0, num, BATCH)])


def generate(run_dir: Path, checkpoint: str, img_num: int, seed: int, out_dir: Path | None
             ) -> Path:
    """Write `img_num` PNGs (img_0000.png ...) and grid.png; returns the folder.

    Raises UsageError when the checkpoint is missing or `out_dir` already holds files.
    """
    if out_dir is not None and out_dir.exists() and (
            not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--out {out_dir} exists and is not an empty folder; choose a new "
                         "folder so nothing is overwritten")
    generator, _ = load_generator(run_dir, checkpoint)
    pictures = generate_images(generator, img_num, seed)
    out_dir = out_dir or next_output_dir(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, picture in enumerate(pictures):
        images.write_png(out_dir / f"img_{i:04d}.png", picture)
    images.write_png(out_dir / "grid.png", images.make_grid(pictures))
    return out_dir
