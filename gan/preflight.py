"""`--TYPE check`: what training would make of a folder, without training.

Reads every file once and reports: images by format, channel mode and size; every file that
would be skipped and why; groups of pixel-identical images; the crop and resize applied; and
the precision and XLA setting training would choose, with the timings of each candidate
(gan/autotune.py, which caches them), the seconds per epoch at that setting, and the seconds
the first step takes to prepare (trace and, with XLA, compile).
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from gan.config import TrainConfig
from gan.data import effective_batch_size, read_image, scan_folder, steps_per_epoch
from gan.errors import counted, printable

_MODES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}
# The start-up summary counts images whose shorter side had to grow more than this factor.
ENLARGED = 2


def inspect(folder: Path) -> dict:
    """Per-folder facts: counts by format, mode and size class, skipped files with reasons,
    and duplicate groups (lists of paths). Raises BadImageFolder like training would."""
    files, others = scan_folder(folder)
    formats, modes, sides = Counter(), Counter(), []
    skipped = [(printable(str(p)), "an image format this tool cannot read") for p in others]
    by_pixels = defaultdict(list)
    for path in files:
        raw = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
        if image is None or read_image(path, 8) is None:
            skipped.append((printable(str(path)), "empty file" if not raw.size else
                            "cannot be decoded (corrupt, truncated or not an image)"))
            continue
        formats[path.suffix.lower().lstrip(".").replace("jpeg", "jpg")] += 1
        channels = 1 if image.ndim == 2 else image.shape[2]
        modes[_MODES.get(channels, f"{channels} channels")
              + (", 16-bit" if image.dtype == np.uint16 else "")] += 1
        sides.append(image.shape[:2])
        digest = hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()
        by_pixels[digest].append(printable(str(path)))
    return {"images": sum(formats.values()), "formats": dict(formats), "modes": dict(modes),
            "sizes": np.array(sides).reshape(-1, 2), "skipped": skipped,
            "duplicates": [group for group in by_pixels.values() if len(group) > 1]}


def measure_speed(config: TrainConfig, num_images: int, num_classes: int = 0,
                  on_measure=None):
    """The precision and XLA setting training would use on `num_images` images (an
    autotune.Choice), with the timings of every setting --precision and --xla leave open:
    from the cache of gan/autotune.py, else measured now (after calling `on_measure` with
    the settings) and cached."""
    from gan import autotune
    batch = effective_batch_size(num_images, config.batch_size)
    return autotune.tune(config, batch, config.epochs * steps_per_epoch(num_images,
                                                                        config.batch_size),
                         config.channels, num_classes, on_measure)


def report(folder: Path, config: TrainConfig, facts: dict, choice=None) -> str:
    """The printable report of `inspect`'s facts, with the setting and speed of
    `measure_speed`'s choice if given."""
    lines = [f"{folder}: {facts['images']} images will be used"]
    lines.append("  formats: " + ", ".join(f"{n} {k}" for k, n in sorted(facts["formats"].items())))
    lines.append("  modes:   " + ", ".join(f"{n} {k}" for k, n in sorted(facts["modes"].items()))
                 + " (all are trained as RGB; alpha is put over white)")
    sizes = facts["sizes"]
    if len(sizes):
        short = sizes.min(axis=1)
        square = int((sizes[:, 0] == sizes[:, 1]).sum())
        lines.append(f"  sizes:   {sizes[:, 1].min()}x{sizes[:, 0].min()} to "
                     f"{sizes[:, 1].max()}x{sizes[:, 0].max()} (w x h); {square} square, "
                     f"{len(sizes) - square} centre-cropped to a square")
        smaller, larger = int((short < config.img_size).sum()), int((short > config.img_size).sum())
        lines.append(f"  resize:  to {config.img_size}x{config.img_size}: {larger} shrunk "
                     f"(INTER_AREA), {smaller} enlarged (INTER_CUBIC, blurry), "
                     f"{len(sizes) - smaller - larger} already that size")
    lines.append(f"  skipped: {len(facts['skipped'])} files"
                 + "".join(f"\n    {path}: {why}" for path, why in facts["skipped"]))
    dupes = facts["duplicates"]
    lines.append(f"  duplicates: {len(dupes)} groups of pixel-identical images"
                 + "".join("\n    " + " = ".join(group) for group in dupes))
    if choice is not None:
        from gan.autotune import cache_path, setting_name
        timing = next(t for t in choice.timings
                      if t.name == setting_name(choice.precision, choice.xla))
        steps = steps_per_epoch(facts["images"], config.batch_size)
        epoch_seconds = timing.step_seconds * steps
        total = epoch_seconds * config.epochs
        if choice.timings:  # measured (or cached): show the timings behind the choice
            lines.append(f"  setting: {choice.label} ({choice.reason})")
            lines += [f"    {t.name:9s} " + ("failed" if t.failed else
                                            f"{1 / t.step_seconds:6.2f} steps/s, first step "
                                            f"{t.prepare_seconds:.1f} s")
                      for t in choice.timings]
            lines.append(f"    (cached in {cache_path()}; delete it to measure again)")
        lines.append(f"  speed:   about {epoch_seconds:.2g} s per epoch ({steps} batches of "
                     f"{min(config.batch_size, facts['images'])}) on this machine at "
                     f"--img_size {config.img_size} --batch_size {config.batch_size} "
                     f"--width {config.width}, {choice.label}; {config.epochs} epochs: about "
                     + (f"{total / 60:.0f} minutes" if total >= 90 else f"{total:.0f} s")
                     + " of steps")
        # Paid once per run by each of the three step variants (G and D, G only, D only) as
        # it is first used: on a slow CPU with XLA, a fifth of a 5-minute run.
        lines.append(f"  start:   about {timing.prepare_seconds:.0f} s to prepare (trace"
                     f"{' and XLA-compile' if choice.xla else ''}) the "
                     "first training step; the G-only and D-only steps each take a little less "
                     "when first used")
    return "\n".join(lines)


def training_summary(folder: Path, images: np.ndarray, skipped: list[str]) -> str:
    """The one-paragraph version printed when training starts: formats, skips, duplicates
    among the decoded training images (uint8 (N, S, S, C)) and images enlarged more than
    ENLARGED times (from their headers, without decoding anything again)."""
    left_out = set(skipped)  # skipped files are named as gan.data printed them
    files = [p for p in scan_folder(folder)[0] if printable(str(p)) not in left_out]
    formats = Counter(p.suffix.lower().lstrip(".").replace("jpeg", "jpg") for p in files)
    seen, duplicates = {}, 0
    for image in images:
        key = hashlib.sha1(image.tobytes()).digest()
        duplicates += key in seen
        seen[key] = True
    size = images.shape[1]
    enlarged = sum(_short_side(p) * ENLARGED < size for p in files)
    return (f"data: {len(images)} images used ("
            + ", ".join(f"{n} {k}" for k, n in sorted(formats.items())) + f"), "
            f"{counted(len(skipped), 'file')} skipped, "
            f"{duplicates} identical to another at {size}x{size}"
            + (f", {enlarged} enlarged more than {ENLARGED}x to reach it (blurry)"
               if enlarged else "")
            + f"; each centre-cropped and resized to {size}x{size}")


def _short_side(path: Path) -> float:
    """The shorter side in pixels of the image in `path`, from its header alone (inf when
    it cannot be read: training skipped it)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return min(image.size)
    except Exception:  # noqa: BLE001 - Pillow raises many types for files it cannot read
        return math.inf
