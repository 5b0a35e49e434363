"""Adaptive augmentation strength: how often D's input is augmented.

The controller of ADA (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data", arXiv:2006.06676, section 3): every augmentation of --augment is applied to
each image with probability p. p starts at 0 and follows the overfitting heuristic

    r_t = E[sign(D(x_real))]    (0: D cannot tell the training images from fakes,
                                 1: it calls every one of them real)

averaged over `interval` batches: above the target, D is starting to memorise the training
set and p rises; below it, p falls; it moves by at most 1 per `kimg` thousand images. So a
short run, or a large data set, trains on clean images, and augmentation comes in as D
begins to overfit.

Plain Python with no TensorFlow, like gan/balance.py: the training loop passes each batch's
r_t (measured before that batch's update, averaged over replicas) and reads p for the next.
"""
from __future__ import annotations

INTERVAL = 4  # batches between adjustments (ADA: 4)


class AugmentStrength:
    """p in [0, 1] for the next batch.

    adaptive: follow r_t toward `target` (ADA); otherwise p stays 1 (plain DiffAugment).
    target: the r_t to hold, in [0, 1) (ADA: 0.6). kimg: thousands of images over which p
    may move from 0 to 1. batch_size: images per batch, all replicas together.
    """

    def __init__(self, adaptive: bool, target: float, kimg: float, batch_size: int):
        self.adaptive = adaptive
        self.target = target
        self.step_size = INTERVAL * batch_size / (1000 * kimg) if adaptive else 0.0
        self.p = 0.0 if adaptive else 1.0
        self._signs: list[float] = []

    def update(self, real_sign: float) -> float:
        """Record one batch's r_t, float in [-1, 1]; returns p for the next batch."""
        if not self.adaptive:
            return self.p
        self._signs.append(real_sign)
        if len(self._signs) == INTERVAL:
            overfitting = sum(self._signs) / INTERVAL - self.target
            self.p = min(1.0, max(0.0, self.p + self.step_size * _sign(overfitting)))
            self._signs.clear()
        return self.p

    def state_dict(self) -> dict:
        return {"p": self.p, "signs": list(self._signs)}

    def load_state_dict(self, state: dict) -> None:
        self.p = state["p"]
        self._signs = list(state["signs"])


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)
