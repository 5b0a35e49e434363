import keras
import numpy as np
import pytest
import tensorflow as tf

from gan import losses
from gan.config import TrainConfig
from gan.errors import UsageError

REAL = tf.constant([[2.0], [0.0]])
FAKE = tf.constant([[-2.0], [0.0]])


def test_bce_is_near_ln2_when_d_cannot_tell():
    zeros = tf.zeros((4, 1))
    loss_g, loss_d = losses.bce_losses(zeros, zeros)
    assert loss_g.numpy() == pytest.approx(np.log(2)) and loss_d.numpy() == pytest.approx(np.log(2))


def test_hinge_and_wasserstein_values():
    loss_g, loss_d = losses.adversarial_losses("hinge", REAL, FAKE)
    assert loss_d.numpy() == pytest.approx(0.5 + 0.5)  # relu(1 - [2, 0]), relu(1 + [-2, 0])
    assert loss_g.numpy() == pytest.approx(1.0)
    loss_g, loss_d = losses.adversarial_losses("wgan-gp", REAL, FAKE)
    assert loss_d.numpy() == pytest.approx(-1.0 - 1.0) and loss_g.numpy() == pytest.approx(1.0)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(1, use_bias=False)])
    weights = np.zeros((16, 1), np.float32)
    weights[0, 0], weights[5, 0] = 3.0, 4.0  # |w| = 5 everywhere: the penalty is (5 - 1)^2
    critic.layers[-1].kernel.assign(weights)
    real, fake = tf.random.normal((8, 4, 4, 1)), tf.random.normal((8, 4, 4, 1))
    mix = tf.random.uniform((8, 1, 1, 1))
    assert losses.gradient_penalty(critic, real, fake, mix).numpy() == pytest.approx(16.0)


def test_r1_of_a_linear_critic_is_its_squared_weight_norm_and_differentiates_to_2w():
    weights = tf.Variable(np.random.default_rng(0).normal(size=(1, 4, 4, 3)), dtype=tf.float32)
    real = tf.random.normal((5, 4, 4, 3))
    with tf.GradientTape() as outer:
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(real)
            logits = tf.reduce_sum(weights * real, axis=[1, 2, 3])[:, None]
        penalty = losses.r1_penalty(tape, logits, real)
    w = weights.numpy()
    assert penalty.numpy() == pytest.approx(np.sum(w ** 2), rel=1e-5)
    # D's update sees the penalty through a double backward pass: d|w|^2/dw = 2w.
    np.testing.assert_allclose(outer.gradient(penalty, weights).numpy(), 2 * w, rtol=1e-5)


def test_wgan_gp_brings_its_own_defaults_and_refuses_rules_in_nats():
    config = TrainConfig.from_flags({"loss": "wgan-gp"})
    assert (config.balance, config.lr_g, config.beta1, config.beta2) == ("ratio", 1e-4, 0.0, 0.9)
    assert TrainConfig.from_flags({"loss": "wgan-gp", "lr_g": 5e-4}).lr_g == 5e-4
    assert TrainConfig.from_flags({}).balance == "margin"
    with pytest.raises(UsageError, match="--balance margin compares losses in nats"):
        TrainConfig.from_flags({"loss": "wgan-gp", "balance": "margin"}).validate()
    with pytest.raises(UsageError, match="--label_smoothing applies only with --loss bce"):
        TrainConfig.from_flags({"loss": "hinge", "label_smoothing": 0.1})
    with pytest.raises(UsageError, match="--margin applies only with --balance margin; this "
                                         "run has --balance ratio: remove --margin"):
        TrainConfig.from_flags({"loss": "wgan-gp", "margin": 0.3})
