"""Projecting images into a trained generator's latent space (GAN inversion) by optimisation.

The recipe follows StyleGAN2's projector (Karras et al. 2020, "Analyzing and Improving the
Image Quality of StyleGAN", arXiv:1912.04958, section 5) and Image2StyleGAN (Abdal et al.
2019, arXiv:1904.03189): start from the best of a fixed set of random latents, then run Adam
on the latent, with a learning rate that decays to zero, to minimise a pixel distance plus a
perceptual-style distance, while a penalty keeps the latent near the Gaussian prior.

Where they use VGG/LPIPS features, this uses a Gaussian pyramid of the image (Burt &
Adelson 1983): L1 distances between blurred, downsampled copies compare the coarse layout
and colours and forgive small shifts, cost nothing, and are self-contained. It deliberately
does not use the EfficientNet features of gan/features.py, which score the generator's
quality: fitting to them would game that metric.
"""
from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_STEPS = 200   # where more steps stop paying: measured beside --steps in gan/cli.py
STARTS = 64           # random latents tried per call; each image starts from its nearest
LEVELS = 3            # pyramid levels below full size: 1/2, 1/4, 1/8
LEARNING_RATE = 0.1   # Adam's initial rate; StyleGAN2's projector uses 0.1 too
PRIOR_WEIGHT = 0.1    # weight of (|z|^2 / latent_dim - 1)^2: |z|^2 ~ latent_dim under N(0, I)
SEED = 0              # of the random starts: the same images always give the same latents


@dataclasses.dataclass
class Projection:
    latents: np.ndarray  # float32 (N, latent_dim), the latents found
    losses: np.ndarray   # float32 (steps,): the loss, averaged over the images, before step k


def project(model, images: np.ndarray, steps: int, starts: int = STARTS,
            seed: int = SEED, initial: np.ndarray | None = None) -> Projection:
    """Latents whose generated images are nearest to `images`, found by `steps` Adam steps.

    `model` is an unconditional generator (keras.Model, float32 latents (B, latent_dim) ->
    float32 images (B, S, S, C) in [-1, 1]), called with training=False so that BatchNorm
    uses its running statistics and each image's result is independent of the others.
    `images` is uint8 (N, S, S, C) at the generator's size. All N are optimised together in
    one batch; each starts from `initial` (float32 (N, latent_dim), e.g. an encoder's
    guess) when given, else from whichever of `starts` latents drawn from N(0, I) with
    `seed` gives the lowest distance to it.

    The loss per image is mean |G(z) - x| over pixels in [-1, 1] plus the same at each of
    LEVELS pyramid levels, plus PRIOR_WEIGHT * (|z|^2 / latent_dim - 1)^2.
    Raises ValueError when steps <= 0 or `images` is empty.
    """
    import keras
    import tensorflow as tf

    if steps <= 0 or not len(images):
        raise ValueError(f"project needs steps > 0 and images, got {steps}, {len(images)}")
    target = tf.constant(np.asarray(images, np.float32) / 127.5 - 1.0)
    z = keras.Variable(_nearest_starts(model, target, starts, seed) if initial is None
                       else np.asarray(initial, np.float32), name="latent")
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=steps))
    target_levels = pyramid(target)

    @tf.function  # traced once: the same shapes on every call
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(_loss(model, z, target_levels))
        optimizer.apply_gradients([(tape.gradient(loss, z), z)])
        return loss

    losses = np.array([float(step()) for _ in range(steps)], np.float32)
    return Projection(np.asarray(z.numpy(), np.float32), losses)


def pyramid(images):
    """[images, then LEVELS copies each blurred and halved] of float (B, S, S, C) images;
    2x2 average pooling is the blur (a box filter: cheap, and enough at these sizes)."""
    import tensorflow as tf

    levels = [images]
    for _ in range(LEVELS):
        levels.append(tf.nn.avg_pool2d(levels[-1], 2, 2, "VALID"))
    return levels


def distance(levels_a, levels_b):
    """Sum over pyramid levels of mean |a - b| per image: float32 (...,) for levels of
    images (..., S, S, C) that broadcast against each other."""
    import tensorflow as tf

    return tf.add_n([tf.reduce_mean(tf.abs(a - b), axis=[-3, -2, -1])
                     for a, b in zip(levels_a, levels_b)])


def _loss(model, z, target_levels):
    """float32 (N,): each image's distance to its target plus the prior penalty."""
    import tensorflow as tf

    images = model(z, training=False)
    norm = tf.reduce_sum(tf.square(z), axis=1) / float(z.shape[1])
    return distance(pyramid(images), target_levels) + PRIOR_WEIGHT * tf.square(norm - 1.0)


def _nearest_starts(model, target, starts: int, seed: int) -> np.ndarray:
    """float32 (N, latent_dim): for each target image, the nearest (by `distance`) of
    `starts` latents drawn from N(0, I) with `seed`."""
    import tensorflow as tf

    dim = model.input_shape[-1]
    candidates = np.random.default_rng(seed).standard_normal((starts, dim)).astype(np.float32)
    generated = pyramid(model(candidates, training=False))
    pairs = distance([t[:, None] for t in pyramid(target)],
                     [g[None] for g in generated])  # (N, starts)
    return candidates[tf.argmin(pairs, axis=1).numpy()]
