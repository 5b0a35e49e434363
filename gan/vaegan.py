"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity
metric", arXiv:1512.09300): an encoder E joins the GAN, and G doubles as the VAE's decoder.

For a batch of real images x and prior latents z_p ~ N(0, I):

    mean, log_var = E(x);  z = mean + exp(log_var / 2) * eps      (reparameterisation)
    x_rec = G(z);  x_p = G(z_p)
    L_prior  = KL(q(z|x) || N(0, I)), averaged over latent dimensions and images
    L_llike  = mean squared distance between D's last feature map of x and of x_rec, over
               the mean square of x's features (the paper's Dis_l reconstruction error:
               similarity learnt by D; relative, so its weight holds as D's activations
               grow), plus the mean absolute pixel error, which carries the signal while D's
               features still tell images apart poorly
    L_GAN    = the run's adversarial loss (--loss) with D judging x against x_p and x_rec

E descends kl_weight * L_prior + L_llike, G descends its adversarial loss + recon_weight *
L_llike (the paper's gamma), D descends its adversarial loss only (the paper's Algorithm 1).
The margin controller compares G's and D's adversarial losses, as for the GAN, and E is
updated whenever G is. E has no normalisation layer (no batch statistics: BatchNorm stays in
G only). D's feature map is compared on the images as they are (not augmented); D's
adversarial input is augmented as in the GAN.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from gan import augment, losses
from gan.config import TrainConfig
from gan.model import GAN, fold_in
from gan.networks import INIT_STDDEV

NOISE_STREAM = 7  # folded into a batch's seed for the reparameterisation noise


def build_encoder(img_size: int, width: int, latent_dim: int, channels: int = 3) -> keras.Model:
    """Image -> the mean and log-variance of its latent.

    Input: float32 (batch, img_size, img_size, channels) in [-1, 1]. Outputs: two float32
    (batch, latent_dim). Strided 4x4 convolutions with LeakyReLU(0.2), doubling channels
    from `width` as D does, and no normalisation.
    """
    init = keras.initializers.RandomNormal(stddev=INIT_STDDEV)
    image = keras.Input((img_size, img_size, channels), name="image")
    x, channels_out, size = image, width, img_size
    while size > 4:
        x = layers.Conv2D(channels_out, 4, strides=2, padding="same", kernel_initializer=init)(x)
        x = layers.LeakyReLU(0.2)(x)
        channels_out, size = channels_out * 2, size // 2
    x = layers.Flatten()(x)
    mean = layers.Dense(latent_dim, kernel_initializer=init, dtype="float32", name="mean")(x)
    log_var = layers.Dense(latent_dim, kernel_initializer="zeros", dtype="float32",
                           name="log_var")(x)
    return keras.Model(image, [mean, log_var], name="encoder")


def feature_model(discriminator: keras.Model) -> keras.Model:
    """D's last feature map (its last 4-D output) as a model sharing D's weights: images
    (B, S, S, C) -> features (B, h, w, c)."""
    last = [layer for layer in discriminator.layers if len(layer.output.shape) == 4][-1]
    return keras.Model(discriminator.inputs, last.output, name="discriminator_features")


class VAEGAN(GAN):
    """The GAN plus an encoder and its Adam optimizer (--lr_g, --beta1, --beta2), trained by
    the three compiled steps as the GAN is (gan/model.py); checkpoints hold E and its
    optimizer too. Unconditional only."""

    def __init__(self, config: TrainConfig, channels: int = 3, strategy=None,
                 num_classes: int = 0):
        if num_classes:
            raise ValueError("VAE-GAN is unconditional")
        super().__init__(config, channels, strategy)
        with self.strategy.scope():
            self.encoder = build_encoder(config.img_size, config.width, config.latent_dim,
                                         channels)
            self.e_optimizer = keras.optimizers.Adam(config.lr_g, beta_1=config.beta1,
                                                     beta_2=config.beta2)
            self.e_optimizer.build(self.encoder.trainable_variables)
            self.features = feature_model(self.discriminator)

    def trackables(self) -> dict:
        return {**super().trackables(), "encoder": self.encoder, "e_optimizer": self.e_optimizer}

    def train_step(self, real, latents, step_index, augment_p, labels=None, *, update_g: bool,
                   update_d: bool):
        self.traces += 1  # Python side effect: runs at trace time only
        config, seed = self.config, self._batch_seed(step_index)
        with tf.GradientTape(persistent=True) as tape:
            mean, log_var = self.encoder(real, training=True)
            noise = tf.random.stateless_normal(tf.shape(mean), fold_in(seed, NOISE_STREAM))
            encoded = mean + tf.exp(0.5 * log_var) * noise
            # One G pass over prior and posterior latents: BatchNorm sees both.
            fakes = self.generator(tf.concat([latents, encoded], 0), training=True)
            reconstructions = fakes[tf.shape(latents)[0]:]
            d_real, d_fakes = real, fakes
            if config.augment_policy():
                d_real, d_fakes = augment.augment_pair(real, fakes, config.augment_policy(),
                                                       seed, augment_p)
            real_logits = self.discriminator(d_real, training=True)
            fake_logits = self.discriminator(d_fakes, training=True)
            loss_g, loss_d = losses.LOSSES[config.loss].losses(real_logits, fake_logits, config)
            features = tf.cast(self.features(tf.concat([real, reconstructions], 0),
                                             training=True), tf.float32)
            real_features, reconstructed = tf.split(features, 2)
            # Relative to the real features' size, so that its weight does not depend on the
            # scale of D's activations, which drifts as D trains.
            llike = tf.reduce_mean(tf.square(real_features - reconstructed)) / (
                tf.stop_gradient(tf.reduce_mean(tf.square(real_features))) + 1e-8)
            # Plus pixels: early on D's features hardly tell images apart.
            llike += tf.reduce_mean(tf.abs(real - tf.cast(reconstructions, tf.float32)))
            kl = -0.5 * tf.reduce_mean(1.0 + log_var - tf.square(mean) - tf.exp(log_var))
            # Optimizers sum gradients over replicas: scale so the sum is the global mean.
            scaled_d = loss_d / self.replicas
            scaled_g = (loss_g + config.recon_weight * llike) / self.replicas
            scaled_e = (config.kl_weight * kl + llike) / self.replicas
        if update_d:
            self._apply(tape, scaled_d, self.discriminator, self.d_optimizer)
        if update_g:
            self._apply(tape, scaled_g, self.generator, self.g_optimizer)
            self._apply(tape, scaled_e, self.encoder, self.e_optimizer)
        del tape
        return self._measurements(loss_g, loss_d, real_logits, fake_logits)

    @staticmethod
    def _apply(tape, loss, model: keras.Model, optimizer) -> None:
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def encode(self, images) -> tf.Tensor:
        """The latent means of images, float32 (N, S, S, C) in [-1, 1] -> (N, latent_dim)."""
        return self.encoder(images, training=False)[0]


def load_encoder(config: TrainConfig, folder) -> keras.Model:
    """The encoder of a VAE-GAN run (`config`) with the weights of the checkpoint in `folder`,
    in float32. Raises what gan.checkpoints.CheckpointStore.restore raises."""
    from gan.checkpoints import CheckpointStore
    from gan.hardware import float32_policy
    with float32_policy():
        encoder = build_encoder(config.img_size, config.width, config.latent_dim,
                                config.channels)
    CheckpointStore(folder.parent, encoder=encoder).restore(folder, partial=True)
    return encoder
