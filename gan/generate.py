"""Generating images from a trained run: loads the generator only, never D or the data.

The public API (`from gan import load_generator`) and `--TYPE generate` both use it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan import images
from gan.config import TrainConfig
from gan.errors import OutputExists, UnknownLabel, UsageError
from gan.projection import DEFAULT_STEPS

BATCH = 64


def label_index(classes: list[str], label) -> int:
    """The index of `label` (a class name or index) in a run's `classes`; UnknownLabel for an
    unknown one, or when `classes` is empty (an unconditional run)."""
    if not classes:
        raise UnknownLabel(label, classes)
    if isinstance(label, str) and label in classes:
        return classes.index(label)
    if isinstance(label, int) and 0 <= label < len(classes):
        return label
    raise UnknownLabel(label, classes)


class Generator:
    """A trained generator, loaded from a run without its discriminator or training data.

        from gan import load_generator
        g = load_generator("runs/00003-faces", checkpoint="best")
        images = g.generate(seeds=[1, 2, 3])   # uint8 (3, 64, 64, 3)

    Image k comes from the latent drawn from `seeds[k]` alone, so a seed gives the same
    pixels whatever else is generated with it, in any order or number. A conditional run's
    generator also takes a class: `g.classes` names them, `g.generate(seeds, label="cats")`.
    """

    def __init__(self, model, config: TrainConfig, folder: Path, classes: list[str] = ()):
        self.model = model      # the keras.Model: float32 latents (N, latent_dim) -> [-1, 1]
        self.config = config    # the run's TrainConfig
        self.folder = folder    # the checkpoint folder the weights came from
        self.classes = list(classes)  # a conditional run's class names, label k = classes[k]

    def label_index(self, label) -> int:
        """The index of class `label` (its name or index); UnknownLabel for an unknown one or
        for an unconditional run."""
        return label_index(self.classes, label)

    def latents(self, seeds, truncation: float = 1.0) -> np.ndarray:
        """float32 (len(seeds), latent_dim): row k is N(0, I) drawn from seeds[k] alone,
        scaled by `truncation` (< 1 pulls toward the mean latent: more typical, less varied)."""
        dim = self.config.latent_dim
        rows = [np.random.default_rng(seed).standard_normal(dim) for seed in seeds]
        return (np.stack(rows) * truncation).astype(np.float32) if rows else \
            np.zeros((0, dim), np.float32)

    def generate(self, seeds, truncation: float = 1.0, label=None) -> np.ndarray:
        """uint8 (len(seeds), S, S, C) images, one per seed; of class `label` (a name or
        index) for a conditional run, or of its classes in turn when `label` is None."""
        latents = self.latents(seeds, truncation)
        labels = None if label is None else np.full(len(latents), self.label_index(label))
        return self.from_latents(latents, labels)

    def encode(self, images_uint8: np.ndarray, steps: int = DEFAULT_STEPS) -> np.ndarray:
        """float32 (N, latent_dim) latents whose images resemble `images_uint8` (uint8 (N, S,
        S, C) at the run's size and channels), found by `steps` steps of optimisation
        (gan.projection.project, which also gives the loss per step); `from_latents` turns
        them back into images. Raises UsageError for a conditional run, whose latents also
        need a class, and ValueError when steps <= 0 or there are no images.
        """
        if self.classes:
            raise UsageError("encoding photos needs a run trained without --conditional")
        from gan.models import MODELS
        return MODELS[self.config.model].encode(self, images_uint8, steps)

    def from_latents(self, latents: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """uint8 (N, S, S, C) images from float32 latents (N, latent_dim) and, for a
        conditional run, int32 class labels (N,) (None: the classes in turn).

        Runs in batches of exactly BATCH (the last one padded), so an image's pixels do not
        depend on how many others are generated with it.
        """
        if self.classes and labels is None:
            labels = images.grid_labels(len(latents), len(self.classes), cols=1)
        out = []
        for i in range(0, len(latents), BATCH):
            batch = latents[i:i + BATCH]
            padded = np.zeros((BATCH, latents.shape[1]), np.float32)
            padded[:len(batch)] = batch
            inputs = padded
            if self.classes:
                inputs = [padded, np.zeros(BATCH, np.int32)]
                inputs[1][:len(batch)] = labels[i:i + BATCH]
            out.append(images.to_uint8(self.model(inputs, training=False))[:len(batch)])
        return np.concatenate(out) if out else np.zeros((0,) + self.model.output_shape[1:],
                                                         np.uint8)


def load_generator(run_dir, checkpoint: str = "latest", label=None) -> Generator:
    """The generator of run folder `run_dir` with the weights of `checkpoint`.

    `checkpoint` is latest, best, a checkpoint name or a folder; `label`, when given, is
    checked against a conditional run's classes. Raises UsageError when either does not
    exist, or the checkpoint cannot be loaded; both are checked before TensorFlow loads.
    """
    from gan.runs import Run

    run = Run(run_dir)
    config = run.load_config()
    classes = run.load_classes()
    if label is not None:
        label_index(classes, label)
    # Before TensorFlow loads, so that a wrong name gets one line and nothing else.
    folder = run.checkpoint_store().resolve(checkpoint)
    from gan.hardware import float32_policy
    from gan.networks import ARCHITECTURES
    with float32_policy():
        model = ARCHITECTURES[config.arch].build_generator(
            config.latent_dim, config.img_size, config.width, config.channels, len(classes))
    # With --ema_kimg the run's images come from the EMA of G's weights, saved beside G.
    name = "generator_ema" if config.ema_kimg else "generator"
    store = run.checkpoint_store(**{name: model})
    if checkpoint == "latest":  # a damaged latest falls back, with a warning, to an older one
        folder, _ = store.restore_latest(partial=True)
    else:
        store.restore(folder, partial=True)
    return Generator(model, config, folder, classes)


def check_new_output(out_dir: Path | None) -> None:
    """OutputExists unless `out_dir` is None, new, or an empty folder: nothing is
    overwritten."""
    if out_dir is not None and out_dir.exists() and (
            not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputExists(out_dir)


def generate(run_dir: Path, checkpoint: str, seeds: list[int], out_dir: Path | None,
             names: str = "img", truncation: float = 1.0, label=None) -> tuple[Path, int]:
    """Write one PNG per seed and grid.png; returns the folder and the number of images.

    Files are `img_0000.png`, ... in order (names="img") or `seed0042.png` (names="seed").
    A conditional run without `label` writes every class, each in a subfolder named by it,
    and grid.png has one row per class.
    Raises UsageError when the checkpoint or label is unknown or `out_dir` already holds files.
    """
    check_new_output(out_dir)
    generator = load_generator(run_dir, checkpoint, label)
    labels = [label] if label is not None or not generator.classes else generator.classes
    from gan.runs import Run
    out_dir = out_dir or Run(run_dir).output_dir()
    rows = []
    for each in labels:
        pictures = generator.generate(seeds, truncation, each)
        folder = out_dir / each if label is None and generator.classes else out_dir
        folder.mkdir(parents=True, exist_ok=True)
        for i, (seed, picture) in enumerate(zip(seeds, pictures)):
            name = f"seed{seed:04d}.png" if names == "seed" else f"img_{i:04d}.png"
            images.write_png(folder / name, picture)
        rows.append(pictures)
    cols = len(seeds) if len(rows) > 1 else None  # one row per class
    images.write_png(out_dir / "grid.png", images.make_grid(np.concatenate(rows), cols))
    return out_dir, len(labels) * len(seeds)
