"""Binary cross-entropy GAN losses, computed from logits for numerical stability.

Both are in nats and near ln 2 ~ 0.693 when D cannot tell real from fake, which is what makes
the balance controller's comparison |loss_G - loss_D| meaningful.
"""
from __future__ import annotations

import tensorflow as tf


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """Mean BCE over the real and the fake samples together (a scalar, float32).

    Real images are labelled 1 - label_smoothing (one-sided smoothing, Salimans et al. 2016),
    fakes 0.
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
