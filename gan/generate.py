"""Generating images from a trained run: loads the generator only, never D or the data.

The public API (`from gan import load_generator`) and `--TYPE generate` both use it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan import images
from gan.config import TrainConfig
from gan.errors import UsageError

BATCH = 64


def next_output_dir(run_dir: Path, kind: str = "generated") -> Path:
    """A new numbered folder `<run>/<kind>/<k>/`; never one that exists."""
    parent = run_dir / kind
    parent.mkdir(exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    return parent / f"{max(taken, default=-1) + 1:04d}"


class Generator:
    """A trained generator, loaded from a run without its discriminator or training data.

        from gan import load_generator
        g = load_generator("runs/00003-faces", checkpoint="best")
        images = g.generate(seeds=[1, 2, 3])   # uint8 (3, 64, 64, 3)

    Image k comes from the latent drawn from `seeds[k]` alone, so a seed gives the same
    pixels whatever else is generated with it, in any order or number.
    """

    def __init__(self, model, config: TrainConfig, folder: Path):
        self.model = model      # the keras.Model: float32 latents (N, latent_dim) -> [-1, 1]
        self.config = config    # the run's TrainConfig
        self.folder = folder    # the checkpoint folder the weights came from

    def latents(self, seeds, truncation: float = 1.0) -> np.ndarray:
        """float32 (len(seeds), latent_dim): row k is N(0, I) drawn from seeds[k] alone,
        scaled by `truncation` (< 1 pulls toward the mean latent: more typical, less varied)."""
        dim = self.config.latent_dim
        rows = [np.random.default_rng(seed).standard_normal(dim) for seed in seeds]
        return (np.stack(rows) * truncation).astype(np.float32) if rows else \
            np.zeros((0, dim), np.float32)

    def generate(self, seeds, truncation: float = 1.0) -> np.ndarray:
        """uint8 (len(seeds), S, S, C) images, one per seed."""
        return self.from_latents(self.latents(seeds, truncation))

    def from_latents(self, latents: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, C) images from float32 latents (N, latent_dim).

        Runs in batches of exactly BATCH (the last one padded), so an image's pixels do not
        depend on how many others are generated with it.
        """
        out = []
        for i in range(0, len(latents), BATCH):
            batch = latents[i:i + BATCH]
            padded = np.zeros((BATCH, latents.shape[1]), np.float32)
            padded[:len(batch)] = batch
            out.append(images.to_uint8(self.model(padded, training=False))[:len(batch)])
        return np.concatenate(out) if out else np.zeros((0,) + self.model.output_shape[1:],
                                                         np.uint8)


def load_generator(run_dir, checkpoint: str = "latest") -> Generator:
    """The generator of run folder `run_dir` with the weights of `checkpoint`.

    `checkpoint` is latest, best, a checkpoint name or a folder. Raises UsageError when it
    does not exist or cannot be loaded.
    """
    from gan.checkpoints import CheckpointStore
    from gan.hardware import float32_policy
    from gan.networks import build_generator

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a run folder (it has no config.json)")
    config = TrainConfig.load(run_dir / "config.json")
    with float32_policy():
        model = build_generator(config.latent_dim, config.img_size, config.width,
                                config.channels)
    store = CheckpointStore(run_dir / "checkpoints", generator=model)
    folder = store.resolve(checkpoint)
    try:
        store.restore(folder, partial=True)
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - truncated file, other architecture, ...
        raise UsageError(f"checkpoint {folder} could not be loaded ({type(error).__name__}); "
                         "choose another with --checkpoint (see its checkpoints/ folder)"
                         ) from None
    return Generator(model, config, folder)


def check_new_output(out_dir: Path | None) -> None:
    """UsageError unless `out_dir` is None, new, or an empty folder: nothing is overwritten."""
    if out_dir is not None and out_dir.exists() and (
            not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--out {out_dir} exists and is not an empty folder; choose a new "
                         "folder so nothing is overwritten")


def generate(run_dir: Path, checkpoint: str, seeds: list[int], out_dir: Path | None,
             names: str = "img", truncation: float = 1.0) -> Path:
    """Write one PNG per seed and grid.png; returns the folder.

    Files are `img_0000.png`, ... in order (names="img") or `seed0042.png` (names="seed").
    Raises UsageError when the checkpoint is missing or `out_dir` already holds files.
    """
    check_new_output(out_dir)
    pictures = load_generator(run_dir, checkpoint).generate(seeds, truncation)
    out_dir = out_dir or next_output_dir(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, (seed, picture) in enumerate(zip(seeds, pictures)):
        name = f"seed{seed:04d}.png" if names == "seed" else f"img_{i:04d}.png"
        images.write_png(out_dir / name, picture)
    images.write_png(out_dir / "grid.png", images.make_grid(pictures))
    return out_dir
