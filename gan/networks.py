"""The DCGAN generator and discriminator (Radford et al. 2016, arXiv:1511.06434).

Strided convolutions instead of pooling, transposed convolutions in G, ReLU in G and
LeakyReLU(0.2) in D, tanh output, weights drawn from N(0, 0.02). BatchNorm is used in the
generator only: the discriminator has no normalization layer at all, so its output for an
image never depends on the other images in the batch.
"""
from __future__ import annotations

import math

import keras
from keras import layers

INIT_STDDEV = 0.02  # DCGAN paper, section 4


def _depth(img_size: int) -> int:
    """Number of stride-2 stages between 4x4 and img_size x img_size (64 -> 4)."""
    return int(math.log2(img_size // 4))


def _init():
    return keras.initializers.RandomNormal(stddev=INIT_STDDEV)


def build_generator(latent_dim: int, img_size: int, width: int, channels: int = 3) -> keras.Model:
    """Latent vector -> image.

    Input: float32 (batch, latent_dim), drawn from N(0, 1).
    Output: float32 (batch, img_size, img_size, channels) in [-1, 1].
    Hidden channels halve at each stage and end at `width` (64 -> 512, 256, 128, 64).
    """
    depth = _depth(img_size)
    z = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(4 * 4 * width * 2 ** (depth - 1), use_bias=False,
                     kernel_initializer=_init())(z)
    x = layers.Reshape((4, 4, width * 2 ** (depth - 1)))(x)
    x = _bn_relu(x)
    for stage in range(depth - 1, 0, -1):
        x = layers.Conv2DTranspose(width * 2 ** (stage - 1), 4, strides=2, padding="same",
                                   use_bias=False, kernel_initializer=_init())(x)
        x = _bn_relu(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                               kernel_initializer=_init())(x)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(z, image, name="generator")


def _bn_relu(x):
    # momentum 0.9 = PyTorch's default 0.1: the running statistics used for samples keep up
    # with a generator that changes quickly. synchronized: batch statistics over all
    # replicas under tf.distribute, so results do not depend on the replica count.
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)(x)
    return layers.ReLU()(x)


def build_discriminator(img_size: int, width: int, dropout: float = 0.0,
                        channels: int = 3) -> keras.Model:
    """Image -> one logit per image (no sigmoid; the losses take logits).

    Input: float32 (batch, img_size, img_size, channels) in [-1, 1].
    Output: float32 (batch, 1), the logit of "this image is real".
    """
    image = keras.Input((img_size, img_size, channels), name="image")
    x = image
    for stage in range(_depth(img_size)):
        x = layers.Conv2D(width * 2 ** stage, 4, strides=2, padding="same",
                          kernel_initializer=_init())(x)
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logits")(x)
    return keras.Model(image, logits, name="discriminator")
