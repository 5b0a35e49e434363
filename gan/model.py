"""The GAN: generator, discriminator, their optimizers, and the compiled training step.

Each batch the balance controller (gan/balance.py) decides, from the losses measured on the
previous batch, which networks to update; the matching compiled step computes both losses in
one forward pass and applies only the chosen gradients. There is one compiled step per
decision, chosen on the host, because under tf.distribute `apply_gradients` cannot sit inside
a `tf.cond`; each traces once. D sees both batches through DiffAugment (gan/augment.py) with a
probability p that rises only as D starts to memorise the training set (gan/ada.py, fed by
each step's E[sign D(real)]); with --r1_gamma, each D update also penalises D's gradient at
the real images (R1); an exponential moving average of G's weights (--ema_kimg) is kept for
samples, evaluation and generate.
"""
from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from gan import augment, hardware, images, losses
from gan.balance import Decision
from gan.config import TrainConfig
from gan.networks import ARCHITECTURES

fold_in = tf.random.experimental.stateless_fold_in
EMA_RAMPUP = 0.05  # StyleGAN2-ADA's ema_rampup (training/training_loop.py)


class GAN:
    """Generator, discriminator, their Adam optimizers, and the three compiled steps.

    Built in `strategy`'s scope (default: the single-device strategy). With more than one
    replica, each step runs on every replica's share of the batch and returns losses
    averaged over all replicas, so every replica and worker sees the same two numbers and
    the controller takes the same decision everywhere.
    """

    def __init__(self, config: TrainConfig, channels: int = 3, strategy=None,
                 num_classes: int = 0):
        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.precision = hardware.apply_precision(config.precision)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.num_classes = num_classes  # 0: unconditional
        arch = ARCHITECTURES[config.arch]
        with self.strategy.scope():
            self.generator = arch.build_generator(config.latent_dim, config.img_size,
                                                  config.width, channels, num_classes)
            self.discriminator = arch.build_discriminator(config.img_size, config.width,
                                                          config.dropout, channels, num_classes)
            self.g_optimizer = keras.optimizers.Adam(config.lr_g, beta_1=config.beta1,
                                                     beta_2=config.beta2)
            self.d_optimizer = keras.optimizers.Adam(config.lr_d, beta_1=config.beta1,
                                                     beta_2=config.beta2)
            # Built now so that a checkpoint restores into existing slots.
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.generator_ema = None
            if config.ema_kimg:
                self.generator_ema = arch.build_generator(config.latent_dim, config.img_size,
                                                          config.width, channels, num_classes)
                self.generator_ema.set_weights(self.generator.get_weights())
        self.traces = 0  # how many times a step was traced (a test checks it stays at 3)
        self._steps = {decision: self._compile(decision, channels) for decision in Decision}

    def _compile(self, decision: Decision, channels: int):
        step = functools.partial(self.train_step, update_g=decision.updates_g,
                                 update_d=decision.updates_d)
        if self.replicas == 1:
            size = self.config.img_size
            signature = [tf.TensorSpec([None, size, size, channels], tf.float32),
                         tf.TensorSpec([None, self.config.latent_dim], tf.float32),
                         tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)]
            if self.num_classes:
                signature.append(tf.TensorSpec([None], tf.int32))
            return tf.function(step, input_signature=signature,
                               jit_compile=hardware.resolve_xla(self.config.xla))

        def distributed(*args):  # real, latents, step_index, augment_p[, labels]
            per_replica = self.strategy.run(step, args=args)
            return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
        return tf.function(distributed)

    def trackables(self) -> dict:
        """What a checkpoint holds, by name."""
        nets = {"generator": self.generator, "discriminator": self.discriminator,
                "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

    def step(self, real, latents, decision: Decision, step_index: int = 0,
             labels=None, augment_p: float = 1.0) -> np.ndarray:
        """One compiled step on a batch: real float32 (B, S, S, C) in [-1, 1] and latents
        float32 (B, latent_dim) (per-replica values under a multi-replica strategy);
        `step_index` (the run's batch count) seeds the batch's augmentation and penalty;
        `labels`, int32 (B,), the classes of a conditional GAN (None otherwise); with
        --augment, `augment_p` is the probability of each augmentation (gan/ada.py).

        Returns float32 [loss_g, loss_d, d_real, d_fake, real_sign]: the losses the
        controller compares (gan/losses.py), mean sigmoid(D(x)) on real and fake images and
        ADA's r_t = mean sign(D(x)) on real ones, measured in the forward pass before this
        step's update, averaged over replicas. With --ema_kimg, also moves the EMA generator
        toward G.
        """
        args = (real, latents, np.int64(step_index), np.float32(augment_p)) + (
            () if labels is None else (labels,))
        out = self._steps[decision](*args).numpy()
        if self.generator_ema is not None:
            self._update_ema(np.float32(self.ema_beta(step_index)))
        return out

    def ema_beta(self, step_index: int) -> float:
        """Weight kept by the EMA after batch `step_index` (0-based), StyleGAN2-ADA's rule:
        half-life --ema_kimg thousand images, but at most 5% of the images seen so far, so
        the average forgets the random start quickly."""
        seen = (step_index + 1) * self.config.batch_size
        half_life = min(1000 * self.config.ema_kimg, EMA_RAMPUP * seen)
        return 0.5 ** (self.config.batch_size / half_life)

    @tf.function
    def _update_ema(self, beta):
        # All weights, BatchNorm's running statistics included, so the EMA generator's
        # statistics follow its own weights' history.
        for average, weight in zip(self.generator_ema.weights, self.generator.weights):
            average.assign(beta * average + (1.0 - beta) * weight)

    def train_step(self, real, latents, step_index, augment_p, labels=None, *, update_g: bool,
                   update_d: bool):
        self.traces += 1  # Python side effect: runs at trace time only
        config, seed = self.config, self._batch_seed(step_index)
        loss = losses.LOSSES[config.loss]

        def discriminate(images):
            inputs = images if labels is None else [images, labels]
            return self.discriminator(inputs, training=True)

        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(latents if labels is None else [latents, labels],
                                  training=True)
            if config.augment_policy():
                real, fake = augment.augment_pair(real, fake, config.augment_policy(), seed,
                                                  augment_p)
            with tf.GradientTape(watch_accessed_variables=False) as input_tape:
                input_tape.watch(real)  # for R1: D's gradient at the real images
                real_logits = discriminate(real)
            fake_logits = discriminate(fake)
            loss_g, loss_d = loss.losses(real_logits, fake_logits, config)
            penalty = 0.0  # R1 is not part of the loss_D the controller compares
            if config.r1_gamma and update_d:
                penalty = 0.5 * config.r1_gamma * losses.r1_penalty(input_tape, real_logits,
                                                                    real)
            loss_d += loss.penalty(discriminate, real, fake, seed, config)
            # Optimizers sum gradients over replicas: scale so the sum is the global mean.
            scaled_d, scaled_g = (loss_d + penalty) / self.replicas, loss_g / self.replicas
        if update_d:
            variables = self.discriminator.trainable_variables
            self.d_optimizer.apply_gradients(zip(tape.gradient(scaled_d, variables), variables))
        if update_g:
            variables = self.generator.trainable_variables
            self.g_optimizer.apply_gradients(zip(tape.gradient(scaled_g, variables), variables))
        del tape
        return self._measurements(loss_g, loss_d, real_logits, fake_logits)

    def _measurements(self, loss_g, loss_d, real_logits, fake_logits):
        """A step's result (see `step`) from its training losses and D's logits."""
        loss = losses.LOSSES[self.config.loss]
        loss_g, loss_d = loss.compared(real_logits, fake_logits, loss_g, loss_d)
        return tf.stack([loss_g, loss_d, tf.reduce_mean(tf.sigmoid(real_logits)),
                         tf.reduce_mean(tf.sigmoid(fake_logits)),
                         tf.reduce_mean(tf.sign(real_logits))])

    def _batch_seed(self, step_index):
        """Seed (2,) of this batch's random numbers on this replica: the same after resume."""
        seed = tf.stack([tf.constant(self.config.seed, tf.int64), step_index])
        return fold_in(seed, tf.distribute.get_replica_context().replica_id_in_sync_group)

    def learning_rates(self) -> tuple[float, float]:
        """The optimizers' current learning rates (G, D)."""
        return float(self.g_optimizer.learning_rate), float(self.d_optimizer.learning_rate)

    def scale_learning_rates(self, factor: float) -> None:
        for optimizer in (self.g_optimizer, self.d_optimizer):
            optimizer.learning_rate.assign(optimizer.learning_rate * factor)

    def is_finite(self) -> bool:
        """Whether every weight of G and D is finite."""
        return all(bool(tf.reduce_all(tf.math.is_finite(v)))
                   for v in self.generator.weights + self.discriminator.weights)

    def sample(self, latents: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, C) images from latents (N, latent_dim), BatchNorm in inference mode,
        from the EMA generator when there is one; a conditional GAN draws its classes in
        turn, a row of 8 each (images.grid_labels)."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        inputs = latents if not self.num_classes else \
            [latents, images.grid_labels(len(latents), self.num_classes)]
        return images.to_uint8(generator(inputs, training=False))
