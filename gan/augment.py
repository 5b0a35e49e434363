"""Differentiable augmentation (DiffAugment) of the discriminator's input.

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"
(arXiv:2006.10738): the same random transformations are applied to real and generated images
before D sees them, in both D's and G's losses, and gradients flow through them to G. With a
few hundred training images D otherwise memorises the real set within minutes. The three
transformations and their strengths are the paper's:

    color        brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
    translation  shift by up to 1/8 of the image side, zero (grey) padding
    cutout       one square of half the image side set to zero (grey), at a random place

With probability p < 1 (adaptive augmentation, gan/ada.py, after ADA, Karras et al. 2020)
each operation is applied to a batch pair with probability p (`augment_pair`); p = 1 is
DiffAugment itself. Randomness is stateless and seeded per batch, so a resumed run augments
exactly as an uninterrupted one would.
"""
from __future__ import annotations

import tensorflow as tf

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2
COIN_STREAM = 1_000  # folded into a batch's seed for its which-operations draw


def augment_pair(real, fake, policy: tuple[str, ...], seed, p=1.0):
    """D's two input batches, each float32 (B, S, S, C) in [-1, 1], augmented alike; returns
    both, same shapes and dtype, differentiable in each.

    Each operation of `policy` is applied to both batches with probability `p` (a float32
    scalar in [0, 1]; 1: always, DiffAugment itself), one draw per batch pair and operation
    from `seed` (int32/int64 (2,)); the transformations themselves differ from image to
    image. ADA draws per image; as D has no layer that mixes images, per batch gives D's
    loss the same expectation, and the operations cost nothing in the batches they skip
    (at small p, early in a run, they would otherwise cost ~15% of every step).
    """
    fold_in = tf.random.experimental.stateless_fold_in
    coins = _uniform((len(policy),), fold_in(seed, COIN_STREAM))
    real_seed, fake_seed = fold_in(seed, 0), fold_in(seed, 1)
    for i, name in enumerate(policy):
        def apply(real=real, fake=fake, i=i, name=name):
            return (_OPS[name](real, fold_in(real_seed, i)),
                    _OPS[name](fake, fold_in(fake_seed, i)))
        real, fake = tf.cond(coins[i] < p, apply, lambda real=real, fake=fake: (real, fake))
    return real, fake


def _uniform(shape, seed, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, seed, low, high)


def _color(x, seed):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch = (tf.shape(x)[0], 1, 1, 1)
    x = x + _uniform(batch, seeds[0], -0.5, 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _uniform(batch, seeds[1], 0.0, 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _uniform(batch, seeds[2], 0.5, 1.5) + mean


def _translation(x, seed):
    size = x.shape[1]
    shift = int(size * TRANSLATION_RATIO + 0.5)
    offsets = tf.random.stateless_uniform((tf.shape(x)[0], 2), seed, -shift, shift + 1,
                                          dtype=tf.int32)
    # One pixel of zero padding; indices that fall outside the image read it.
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    grid = tf.range(size)[None, :] + 1
    rows = tf.clip_by_value(grid + offsets[:, :1], 0, size + 1)
    cols = tf.clip_by_value(grid + offsets[:, 1:], 0, size + 1)
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def _cutout(x, seed):
    size = x.shape[1]
    half = int(size * CUTOUT_RATIO + 0.5) // 2
    centres = tf.random.stateless_uniform((tf.shape(x)[0], 2), seed, 0, size, dtype=tf.int32)
    grid = tf.range(size)[None, :]
    inside_rows = _within(grid - centres[:, :1], half)   # (B, S)
    inside_cols = _within(grid - centres[:, 1:], half)
    hole = tf.logical_and(inside_rows[:, :, None], inside_cols[:, None, :])
    return x * tf.cast(~hole, x.dtype)[..., None]


def _within(distance, half):
    return tf.logical_and(distance >= -half, distance < half)  # 2 * half pixels wide


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
