"""The generator and discriminator architectures (--arch), by name in ARCHITECTURES.

    dcgan   Radford et al. 2016 (arXiv:1511.06434): strided convolutions instead of pooling,
            4x4 stride-2 transposed convolutions in G, ReLU in G and LeakyReLU(0.2) in D,
            weights drawn from N(0, 0.02).
    skip    dcgan with multi-scale images: G adds an RGB image from every stage, upsampled,
            to its output, and every D stage also sees the image average-pooled to its side
            (StyleGAN2's skip generator and input-skip discriminator, Karras et al. 2020,
            arXiv:1912.04958 section 4.1: the single-image form of MSG-GAN's multi-scale
            gradients, Karnewar & Wang 2020, arXiv:1903.06048).

Candidates raced against it and removed (docs/experiments.md) are named in REMOVED, with the
commit whose code still trains them and loads their runs.

Every architecture has the same inputs, outputs and stage widths: G goes from 4x4 to
img_size x img_size doubling the side at each stage, its channels halving down to `width`;
D's stages go the other way, `width * 2**stage` channels. BatchNorm is used in the generator
only: no discriminator has a normalization layer or any other batch statistic, so its output
for an image never depends on the other images in the batch.

Conditional networks (num_classes > 0) take an int32 class label (batch,) as a second input,
alike in every architecture: G concatenates a learned embedding of it to the latent (Mirza &
Osindero 2014); D adds the projection <embed(label), features> to its logit (Miyato & Koyama
2018, arXiv:1802.05637).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

# Keras is imported inside the builders only: gan.config reads ARCHITECTURES' names and
# descriptions for --arch before TensorFlow may load (gan/quiet.py).
INIT_STDDEV = 0.02  # DCGAN paper, section 4


def _depth(img_size: int) -> int:
    """Number of stride-2 stages between 4x4 and img_size x img_size (64 -> 4)."""
    return int(math.log2(img_size // 4))


def _init():
    import keras
    return keras.initializers.RandomNormal(stddev=INIT_STDDEV)


class Architecture:
    """One design of G and D. Subclasses give the layers between the shared ends: the latent
    (and label) input of G and its tanh output, D's image input and its (projected) logit."""

    name = ""
    description = ""  # one line, for --arch's help

    def build_generator(self, latent_dim: int, img_size: int, width: int, channels: int = 3,
                        num_classes: int = 0) -> keras.Model:
        """Latent vector (and class label) -> image.

        Inputs: float32 (batch, latent_dim), drawn from N(0, 1); with num_classes > 0 also
        int32 (batch,) labels in [0, num_classes).
        Output: float32 (batch, img_size, img_size, channels) in [-1, 1].
        Hidden channels halve at each stage and end at `width` (64 -> 512, 256, 128, 64).
        """
        import keras
        from keras import layers
        z = keras.Input((latent_dim,), name="latent")
        inputs, x = z, z
        if num_classes:
            label = keras.Input((), dtype="int32", name="label")
            inputs = [z, label]
            x = layers.Concatenate()([z, layers.Embedding(num_classes, latent_dim)(label)])
        x = self.generator_body(x, _depth(img_size), width, channels)
        image = layers.Activation("tanh", dtype="float32", name="image")(x)
        return keras.Model(inputs, image, name="generator")

    def build_discriminator(self, img_size: int, width: int, dropout: float = 0.0,
                            channels: int = 3, num_classes: int = 0) -> keras.Model:
        """Image (and class label) -> one logit per image (no sigmoid; the losses take logits).

        Inputs: float32 (batch, img_size, img_size, channels) in [-1, 1]; with num_classes > 0
        also int32 (batch,) labels. `dropout`: rate after each stage.
        Output: float32 (batch, 1), the logit of "this image is real" (of its class).
        """
        import keras
        from keras import layers
        image = keras.Input((img_size, img_size, channels), name="image")
        x = self.discriminator_body(image, _depth(img_size), width, dropout)
        logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32",
                              name="logits")(x)
        if not num_classes:
            return keras.Model(image, logits, name="discriminator")
        label = keras.Input((), dtype="int32", name="label")
        embedded = layers.Embedding(num_classes, x.shape[-1], embeddings_initializer=_init(),
                                    dtype="float32")(label)
        features = layers.Activation("linear", dtype="float32")(x)  # float32 under bf16 too
        projection = layers.Dot(axes=1, dtype="float32")([embedded, features])
        logits = layers.Add(dtype="float32", name="projected_logits")([logits, projection])
        return keras.Model([image, label], logits, name="discriminator")

    def generator_body(self, x, depth: int, width: int, channels: int):
        """G from the (latent, embedded label) vector to `channels` maps of the image's size,
        before tanh."""
        raise NotImplementedError

    def discriminator_body(self, image, depth: int, width: int, dropout: float):
        """D from the image to a flat feature vector (batch, features)."""
        raise NotImplementedError


class DCGAN(Architecture):
    name = "dcgan"
    description = "DCGAN (Radford et al. 2016): transposed 4x4 convolutions in G, strided " \
                  "4x4 convolutions in D"

    def generator_body(self, x, depth, width, channels):
        x = self.generator_stem(x, depth, width)
        for stage in range(depth - 1, 0, -1):
            x = self.generator_stage(x, stage, width)
        return self.upsample(x, channels, use_bias=True)

    def generator_stem(self, x, depth: int, width: int):
        """The latent vector to G's 4x4 maps."""
        from keras import layers
        x = layers.Dense(4 * 4 * width * 2 ** (depth - 1), use_bias=False,
                         kernel_initializer=_init())(x)
        return _bn_relu(layers.Reshape((4, 4, width * 2 ** (depth - 1)))(x))

    def generator_stage(self, x, stage: int, width: int):
        """Twice the side, `width * 2**(stage - 1)` channels, BatchNorm and ReLU."""
        return _bn_relu(self.upsample(x, width * 2 ** (stage - 1), use_bias=False))

    def upsample(self, x, filters: int, use_bias: bool):
        """Twice the side, `filters` channels."""
        from keras import layers
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                      kernel_initializer=_init())(x)

    def discriminator_body(self, image, depth, width, dropout):
        from keras import layers
        x = image
        for stage in range(depth):
            x = self.discriminator_stage(x, stage, width, dropout)
        return layers.Flatten()(x)

    def discriminator_stage(self, x, stage: int, width: int, dropout: float):
        """Half the side, `width * 2**stage` channels, LeakyReLU (and dropout)."""
        from keras import layers
        x = layers.Conv2D(width * 2 ** stage, 4, strides=2, padding="same",
                          kernel_initializer=_init())(x)
        x = layers.LeakyReLU(0.2)(x)
        return layers.Dropout(dropout)(x) if dropout else x


class Skip(DCGAN):
    name = "skip"
    description = ("dcgan with multi-scale images: G sums an RGB image from every stage, D sees "
                   "the image at every scale (StyleGAN2's skips, after MSG-GAN)")

    def generator_body(self, x, depth, width, channels):
        from keras import layers
        x = self.generator_stem(x, depth, width)
        # Every stage draws its part of the image directly, so the coarse stages get gradients
        # from the image without passing through the fine ones.
        rgb = _to_rgb(x, channels)
        for stage in range(depth - 1, 0, -1):
            x = self.generator_stage(x, stage, width)
            rgb = layers.Add()([_upsample_rgb(rgb), _to_rgb(x, channels)])
        return layers.Add()([_upsample_rgb(rgb), self.upsample(x, channels, use_bias=True)])

    def discriminator_body(self, image, depth, width, dropout):
        from keras import layers
        x = image
        for stage in range(depth):
            x = self.discriminator_stage(x, stage, width, dropout)
            x = layers.Concatenate()([x, layers.AveragePooling2D(2 ** (stage + 1))(image)])
        return layers.Flatten()(x)


def _to_rgb(x, channels: int):
    from keras import layers
    return layers.Conv2D(channels, 1, kernel_initializer=_init())(x)


def _upsample_rgb(rgb):
    from keras import layers
    # Nearest, as ProGAN's G: TensorFlow's bilinear resize has a float32 gradient that XLA
    # refuses to add to bfloat16 ones under mixed_bfloat16.
    return layers.UpSampling2D(2)(rgb)


def _bn_relu(x):
    from keras import layers
    # momentum 0.9 = PyTorch's default 0.1: the running statistics used for samples keep up
    # with a generator that changes quickly. synchronized: batch statistics over all
    # replicas under tf.distribute, so results do not depend on the replica count.
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)(x)
    return layers.ReLU()(x)


# Candidates measured and removed (docs/experiments.md): name -> the last commit whose code
# trains them and loads their runs.
REMOVED = {"upconv": "ca2f41e", "sle": "ca2f41e", "resnet": "ce890dd"}

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch for arch in (DCGAN(), Skip())}
