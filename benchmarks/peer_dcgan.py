"""The strong peer the product races (issue 27): a textbook DCGAN with DiffAugment and an EMA.

    python benchmarks/peer_dcgan.py --path FOLDER --minutes 5 --seed 0 --out RUN

Not a product option: plain Keras, the recipe of the PyTorch DCGAN example
(github.com/pytorch/examples, dcgan/main.py): G = ConvTranspose 4x4 stride 2 + BatchNorm +
ReLU, D = Conv 4x4 stride 2 + BatchNorm (not after the first conv) + LeakyReLU(0.2),
ngf = ndf = 64, latent 100, batch 64, Adam 2e-4 beta1 0.5, N(0, 0.02) weights, BCE with the
non-saturating G loss, G and D updated together on every batch. Added: DiffAugment (colour,
translation, cutout, always on, real and fake alike; Zhao et al. 2020, gan/augment.py) and an
exponential moving average of G with StyleGAN2-ADA's ramp (half-life 10 kimg, at most 5% of
the images seen). Trains on 64x64 RGB images for `--minutes` of wall clock (the first step's
tracing included) and writes RUN/generator.keras (the EMA generator: float32 latents
(N, 100) -> float32 images (N, 64, 64, 3) in [-1, 1], BatchNorm in inference mode),
RUN/progress.json (steps, epochs, train_minutes) and RUN/samples.png.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gan import augment, images  # noqa: E402
from gan.data import load_images  # noqa: E402
from gan.model import EMA_RAMPUP  # noqa: E402

IMG_SIZE, LATENT, WIDTH, BATCH = 64, 100, 64, 64
LR, BETA1 = 2e-4, 0.5
EMA_KIMG = 10
POLICY = ("color", "translation", "cutout")
GENERATOR, PROGRESS = "generator.keras", "progress.json"  # what a run folder holds


def _init():
    return keras.initializers.RandomNormal(stddev=0.02)


def _batchnorm():  # PyTorch's defaults (momentum 0.1) and the example's N(1, 0.02) scales
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=(
        keras.initializers.RandomNormal(1.0, 0.02)))


def build_generator() -> keras.Model:
    z = keras.Input((LATENT,))
    # The example's first ConvTranspose (4x4, stride 1, on a 1x1 input) is this Dense.
    x = layers.Reshape((4, 4, WIDTH * 8))(
        layers.Dense(4 * 4 * WIDTH * 8, use_bias=False, kernel_initializer=_init())(z))
    x = layers.ReLU()(_batchnorm()(x))
    for mult in (4, 2, 1):
        x = layers.Conv2DTranspose(WIDTH * mult, 4, 2, "same", use_bias=False,
                                   kernel_initializer=_init())(x)
        x = layers.ReLU()(_batchnorm()(x))
    x = layers.Conv2DTranspose(3, 4, 2, "same", use_bias=False, kernel_initializer=_init())(x)
    return keras.Model(z, layers.Activation("tanh", dtype="float32")(x), name="peer_generator")


def build_discriminator() -> keras.Model:
    image = keras.Input((IMG_SIZE, IMG_SIZE, 3))
    x = image
    for i, mult in enumerate((1, 2, 4, 8)):
        x = layers.Conv2D(WIDTH * mult, 4, 2, "same", use_bias=False,
                          kernel_initializer=_init())(x)
        x = layers.LeakyReLU(0.2)(_batchnorm()(x) if i else x)
    # The example's last Conv (4x4, valid, on 4x4 features): one logit per image.
    x = layers.Conv2D(1, 4, 1, "valid", use_bias=False, kernel_initializer=_init())(x)
    return keras.Model(image, layers.Flatten(dtype="float32")(x), name="peer_discriminator")


def ema_beta(step: int) -> float:
    """Weight the EMA keeps after batch `step` (0-based); gan.model.GAN.ema_beta's rule."""
    half_life = min(1000 * EMA_KIMG, EMA_RAMPUP * (step + 1) * BATCH)
    return 0.5 ** (BATCH / half_life)


def make_step(g, d, g_opt, d_opt, g_ema, seed: int):
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real, latents, index, beta):
        with tf.GradientTape(persistent=True) as tape:
            fake = g(latents, training=True)
            real_aug, fake_aug = augment.augment_pair(
                real, fake, POLICY, tf.stack([tf.constant(seed, tf.int64), index]))
            real_logits, fake_logits = d(real_aug, training=True), d(fake_aug, training=True)
            loss_d = (bce(tf.ones_like(real_logits), real_logits)
                      + bce(tf.zeros_like(fake_logits), fake_logits))
            loss_g = bce(tf.ones_like(fake_logits), fake_logits)  # non-saturating
        d_opt.apply_gradients(zip(tape.gradient(loss_d, d.trainable_variables),
                                  d.trainable_variables))
        g_opt.apply_gradients(zip(tape.gradient(loss_g, g.trainable_variables),
                                  g.trainable_variables))
        for average, weight in zip(g_ema.weights, g.weights):  # BatchNorm statistics too
            average.assign(beta * average + (1.0 - beta) * weight)
        return loss_g, loss_d
    return step


def train(path: Path, minutes: float, seed: int, out: Path, precision: str = "float32") -> dict:
    """Train for `minutes` of wall clock in `precision` (a Keras dtype policy); write
    out/generator.keras, out/progress.json and out/samples.png; returns the progress dict
    (steps, epochs, train_minutes)."""
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
    data = load_images(path, IMG_SIZE).astype(np.float32) / 127.5 - 1.0
    if len(data) < BATCH:
        sys.exit(f"error: {path} holds {len(data)} images, fewer than one batch of {BATCH}")
    g, d, g_ema = build_generator(), build_discriminator(), build_generator()
    g_ema.set_weights(g.get_weights())
    g_opt, d_opt = (keras.optimizers.Adam(LR, beta_1=BETA1) for _ in range(2))
    step = make_step(g, d, g_opt, d_opt, g_ema, seed)
    rng = np.random.default_rng(seed)
    steps, epochs, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < 60 * minutes:
        order = rng.permutation(len(data))
        for i in range(0, len(data) - BATCH + 1, BATCH):  # the last partial batch is dropped
            latents = rng.standard_normal((BATCH, LATENT)).astype(np.float32)
            step(data[order[i:i + BATCH]], latents, np.int64(steps), np.float32(ema_beta(steps)))
            steps += 1
            if time.perf_counter() - start >= 60 * minutes:
                break
        else:
            epochs += 1
    progress = {"steps": steps, "epochs": epochs,
                "train_minutes": (time.perf_counter() - start) / 60}
    out.mkdir(parents=True, exist_ok=True)
    g_ema.save(out / GENERATOR)
    (out / PROGRESS).write_text(json.dumps(progress) + "\n")
    grid = g_ema(rng.standard_normal((64, LATENT)).astype(np.float32), training=False)
    images.write_png(out / "samples.png", images.make_grid(images.to_uint8(grid)))
    return progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, required=True, help="folder of training images")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                        help="compute dtype (weights stay float32); race the faster one")
    args = parser.parse_args()
    print(json.dumps(train(args.path, args.minutes, args.seed, args.out, args.precision)))


if __name__ == "__main__":
    main()
