"""Writing images, sample grids and the loss plot."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np


def to_uint8(images) -> np.ndarray:
    """float images in [-1, 1], (N, H, W, C) -> uint8 (N, H, W, C) in [0, 255]."""
    x = (np.asarray(images, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def to_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 1) gray -> (N, H, W, 3) by repeating the channel; RGB unchanged."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def grid_labels(count: int, num_classes: int, cols: int = 8) -> np.ndarray:
    """int32 (count,) labels that take the classes in turn, `cols` images each: a grid of
    `cols` columns shows one class per row."""
    return ((np.arange(count) // cols) % num_classes).astype(np.int32)


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 image with the N tiles in rows of `cols`, white gaps."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top:top + h, left:left + w] = img
    return grid


def write_png(path: Path, image: np.ndarray) -> None:
    """Write uint8 (H, W, 3) RGB or (H, W, 1) gray as PNG; OSError if it cannot be written."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.shape[-1] == 3 else image
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"could not write {path}")


def plot_losses(history: dict[str, list], path: Path, epoch_steps: list[int],
                kd_points: list[tuple[int, float]] = ()) -> None:
    """Loss curves (per batch, with a moving average) above the balance decisions per epoch,
    and KD over training when there are `kd_points`.

    `history` holds equal-length lists under "loss_g", "loss_d" and "decision";
    `epoch_steps` the global step at which each finished epoch ended; `kd_points` (step, KD).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 3 if kd_points else 2
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2 + 2 * rows), sharex=True,
                             gridspec_kw={"height_ratios": [2, 1, 1][:rows]})
    top, bottom = axes[0], axes[1]
    steps = np.arange(1, len(history["loss_g"]) + 1)
    for key, colour, label in (("loss_g", "tab:blue", "generator"),
                               ("loss_d", "tab:red", "discriminator")):
        values = np.asarray(history[key], dtype=float)
        top.plot(steps, values, color=colour, alpha=0.25, linewidth=0.6)
        top.plot(steps, _moving_average(values), color=colour, label=label)
    top.axhline(math.log(2), color="gray", linestyle=":", label="ln 2 (equilibrium)")
    top.set_ylabel("loss (BCE, nats)")
    top.legend(loc="upper right")
    _plot_decisions(bottom, history["decision"], epoch_steps)
    if kd_points:
        steps_kd, kd = zip(*kd_points)
        axes[2].plot(steps_kd, kd, "o-", color="tab:green")
        axes[2].set_ylabel("KD vs training set")
    axes[-1].set_xlabel("step (batch)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _moving_average(values: np.ndarray, window: int = 25) -> np.ndarray:
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    head = np.cumsum(values[:window - 1]) / np.arange(1, window)  # warm-up: mean so far
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def _plot_decisions(ax, decisions: list[str], epoch_steps: list[int]) -> None:
    """Stacked share of both / G only / D only updates in each epoch."""
    bounds = [0] + list(epoch_steps)
    mids, shares = [], {"both": [], "g_only": [], "d_only": []}
    for start, end in zip(bounds[:-1], bounds[1:]):
        chunk = decisions[start:end]
        if not chunk:
            continue
        mids.append((start + end) / 2)
        for key in shares:
            shares[key].append(chunk.count(key) / len(chunk))
    if not mids:
        return
    ax.stackplot(mids, shares["both"], shares["g_only"], shares["d_only"],
                 labels=["both", "G only", "D only"],
                 colors=["tab:gray", "tab:blue", "tab:red"], alpha=0.7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of batches")
    ax.legend(loc="upper right", fontsize="small")
