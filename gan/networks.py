"""The DCGAN generator and discriminator (Radford et al. 2016, arXiv:1511.06434).

Strided convolutions instead of pooling, transposed convolutions in G, ReLU in G and
LeakyReLU(0.2) in D, tanh output, weights drawn from N(0, 0.02). BatchNorm is used in the
generator only: the discriminator has no normalization layer at all, so its output for an
image never depends on the other images in the batch.

Conditional networks (num_classes > 0) take an int32 class label (batch,) as a second input:
G concatenates a learned embedding of it to the latent (Mirza & Osindero 2014); D adds the
projection <embed(label), features> to its logit (Miyato & Koyama 2018, arXiv:1802.05637).
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


def build_generator(latent_dim: int, img_size: int, width: int, channels: int = 3,
                    num_classes: int = 0) -> keras.Model:
    """Latent vector (and class label) -> image.

    Inputs: float32 (batch, latent_dim), drawn from N(0, 1); with num_classes > 0 also int32
    (batch,) labels in [0, num_classes).
    Output: float32 (batch, img_size, img_size, channels) in [-1, 1].
    Hidden channels halve at each stage and end at `width` (64 -> 512, 256, 128, 64).
    """
    depth = _depth(img_size)
    z = keras.Input((latent_dim,), name="latent")
    inputs, x = z, z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [z, label]
        x = layers.Concatenate()([z, layers.Embedding(num_classes, latent_dim)(label)])
    x = layers.Dense(4 * 4 * width * 2 ** (depth - 1), use_bias=False,
                     kernel_initializer=_init())(x)
    x = layers.Reshape((4, 4, width * 2 ** (depth - 1)))(x)
    x = _bn_relu(x)
    for stage in range(depth - 1, 0, -1):
        x = layers.Conv2DTranspose(width * 2 ** (stage - 1), 4, strides=2, padding="same",
                                   use_bias=False, kernel_initializer=_init())(x)
        x = _bn_relu(x)
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                               kernel_initializer=_init())(x)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs, image, name="generator")


def _bn_relu(x):
    # momentum 0.9 = PyTorch's default 0.1: the running statistics used for samples keep up
    # with a generator that changes quickly. synchronized: batch statistics over all
    # replicas under tf.distribute, so results do not depend on the replica count.
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)(x)
    return layers.ReLU()(x)


def build_discriminator(img_size: int, width: int, dropout: float = 0.0,
                        channels: int = 3, num_classes: int = 0) -> keras.Model:
    """Image (and class label) -> one logit per image (no sigmoid; the losses take logits).

    Inputs: float32 (batch, img_size, img_size, channels) in [-1, 1]; with num_classes > 0
    also int32 (batch,) labels.
    Output: float32 (batch, 1), the logit of "this image is real" (of its class).
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
    if not num_classes:
        return keras.Model(image, logits, name="discriminator")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, x.shape[-1], embeddings_initializer=_init(),
                                dtype="float32")(label)
    features = layers.Activation("linear", dtype="float32")(x)  # float32 under bf16 too
    projection = layers.Dot(axes=1, dtype="float32")([embedded, features])
    logits = layers.Add(dtype="float32", name="projected_logits")([logits, projection])
    return keras.Model([image, label], logits, name="discriminator")
