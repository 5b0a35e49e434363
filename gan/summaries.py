"""TensorBoard event files of a training run: `tensorboard --logdir runs/` shows every run.

The events go into the run folder itself, so TensorBoard lists each run under its folder's
name. Every value is written at the run's batch count (Progress.step): a resumed run continues
its curves in a new event file of the same folder, and a run rolled back to its latest
checkpoint writes the steps after it again.

Tags (scalars once per epoch, at its last batch; a stop mid-epoch writes the part done):
    loss/G, loss/D                        mean over the epoch's batches, in nats (BCE)
    balance/both, balance/g_only, balance/d_only
                                          share of the epoch's batches per controller decision
    augment/p                             adaptive augmentation's probability (with --augment)
    learning_rate/G, learning_rate/D      Adam's rates (halved by each rollback)
    eval/kd, eval/kd_std, eval/diversity, eval/collapse (0 or 1)
                                          each KD check (--eval_every)
    samples                               each sample grid (the PNGs of samples/)

Writing costs well under a millisecond per epoch; the events reach the disk at each sample
grid and at the end.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

EVAL_TAGS = ("kd", "kd_std", "diversity", "collapse")


class TrainingBoard:
    """The summary writer of one training session; every method does nothing when
    `enabled` is False (a worker of a multi-worker run other than the chief)."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.writer = tf.summary.create_file_writer(str(run_dir)) if enabled else None

    def _scalars(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value))

    def epoch(self, step: int, stats, learning_rates: tuple[float, float],
              augment_p: float | None) -> None:
        """An epoch's batches so far (gan.losslog.EpochStats: their decision counts and loss
        sums; nothing is written when it has none), the learning rates (G, D) and augment_p
        (None without augmentation)."""
        if self.writer is None or not stats.batches:
            return
        values = {"loss/G": stats.loss_g_sum / stats.batches,
                  "loss/D": stats.loss_d_sum / stats.batches,
                  **{f"balance/{name}": n / stats.batches for name, n in stats.counts.items()},
                  "learning_rate/G": learning_rates[0], "learning_rate/D": learning_rates[1]}
        if augment_p is not None:
            values["augment/p"] = augment_p
        self._scalars(step, values)

    def evaluation(self, step: int, result: dict) -> None:
        """A KD check's result (gan.evaluate.TrainingScorer: kd, kd_std, diversity,
        collapse)."""
        if self.writer is not None:
            self._scalars(step, {f"eval/{key}": result[key] for key in EVAL_TAGS})

    def samples(self, step: int, grid: np.ndarray) -> None:
        """A sample grid, uint8 (H, W, C); written to disk at once."""
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            tf.summary.image("samples", grid[np.newaxis])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
