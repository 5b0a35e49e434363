"""The adversarial losses: --loss bce (default), hinge, wgan-gp. Each is a pair of scalar
float32 functions of D's logits (D's raw scores: no sigmoid).

bce       Goodfellow et al. 2014, with the non-saturating G loss -log D(G(z)); optional
          one-sided label smoothing (Salimans et al. 2016).
hinge     Lim & Ye 2017 / Miyato et al. 2018: D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],
          G: -E[D(G(z))].
wgan-gp   Gulrajani et al. 2017: the critic D estimates the Wasserstein distance,
          D: E[D(G(z))] - E[D(x)] + gp_weight * E[(|grad D(x_hat)| - 1)^2] on random points
          x_hat between real and fake images (the penalty is added in the training step,
          which owns D), G: -E[D(G(z))].

The balance controllers compare losses in nats of binary cross-entropy, near ln 2 ~ 0.69
when D cannot tell real from fake: `bce_losses` measures them from the logits whatever loss
trains the networks, so the margin means the same with bce and hinge. A WGAN critic's scores
have no such scale (adding a constant changes nothing), so with wgan-gp the controllers see
the Wasserstein losses and the rules that need nats are refused (gan/config.py).
"""
from __future__ import annotations

import tensorflow as tf

LOSSES = ("bce", "hinge", "wgan-gp")


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """Mean BCE over the real and the fake samples together (a scalar, float32).

    Real images are labelled 1 - label_smoothing (one-sided smoothing), fakes 0.
    """
    real = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(real_logits), 1.0 - label_smoothing), logits=real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(fake_logits), logits=fake_logits)
    return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))


def generator_loss(fake_logits):
    """The non-saturating generator loss, -log D(G(z)), averaged (a scalar, float32)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.ones_like(fake_logits), logits=fake_logits))


def bce_losses(real_logits, fake_logits, label_smoothing: float = 0.0):
    """(loss_G, loss_D) as binary cross-entropies in nats."""
    return generator_loss(fake_logits), discriminator_loss(real_logits, fake_logits,
                                                           label_smoothing)


def hinge_discriminator_loss(real_logits, fake_logits):
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + \
        tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """The critic's loss without its gradient penalty: E[D(G(z))] - E[D(x)]."""
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def score_generator_loss(fake_logits):
    """G's loss for hinge and wgan-gp: -E[D(G(z))]."""
    return -tf.reduce_mean(fake_logits)


def adversarial_losses(loss: str, real_logits, fake_logits, label_smoothing: float = 0.0):
    """(loss_G, loss_D) that --loss `loss` trains with; wgan-gp's loss_D lacks the penalty."""
    if loss == "bce":
        return bce_losses(real_logits, fake_logits, label_smoothing)
    if loss == "hinge":
        return score_generator_loss(fake_logits), hinge_discriminator_loss(real_logits,
                                                                           fake_logits)
    return score_generator_loss(fake_logits), wasserstein_discriminator_loss(real_logits,
                                                                             fake_logits)


def gradient_penalty(critic, real, fake, mix):
    """E[(|grad_x D(x_hat)|_2 - 1)^2] at x_hat = mix * real + (1 - mix) * fake.

    critic: images -> scores (B, 1); real, fake: float32 (B, S, S, C); mix: float32
    (B, 1, 1, 1) from U(0, 1).
    """
    x_hat = mix * real + (1.0 - mix) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = tf.cast(critic(x_hat), tf.float32)
    grads = tf.cast(tape.gradient(scores, x_hat), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(tape, real_logits, real):
    """R1 (Mescheder et al. 2018): E[|grad_x D(x)|_2^2] over the real images x D scored,
    a float32 scalar; D's loss adds r1_gamma / 2 times it (StyleGAN2-ADA's form).

    tape: a GradientTape that watched `real`, float32 (B, S, S, C), while D computed
    `real_logits` (B, 1) from it; called inside the tape of D's loss, so that the penalty
    is differentiated too (a double backward pass).
    """
    grads = tf.cast(tape.gradient(real_logits, real), tf.float32)  # of the logits' sum
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
