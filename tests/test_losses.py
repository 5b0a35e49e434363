import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan import health, losses
from gan.config import TrainConfig
from gan.errors import UsageError

REAL = tf.constant([[2.0], [0.0]])
FAKE = tf.constant([[-2.0], [0.0]])


def test_bce_is_near_ln2_when_d_cannot_tell():
    zeros = tf.zeros((4, 1))
    loss_g, loss_d = losses.LOSSES["bce"].losses(zeros, zeros, TrainConfig())
    assert loss_g.numpy() == pytest.approx(np.log(2)) and loss_d.numpy() == pytest.approx(np.log(2))


def test_hinge_and_wasserstein_values():
    loss_g, loss_d = losses.LOSSES["hinge"].losses(REAL, FAKE, TrainConfig())
    assert loss_d.numpy() == pytest.approx(0.5 + 0.5)  # relu(1 - [2, 0]), relu(1 + [-2, 0])
    assert loss_g.numpy() == pytest.approx(1.0)
    loss_g, loss_d = losses.LOSSES["wgan-gp"].losses(REAL, FAKE, TrainConfig())
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


class NoNats(losses.Loss):
    """A loss added in one place: scores without a nats scale, signs or room for R1."""
    name, description, flags = "no-nats", "", ("gp_weight",)
    defaults = {"balance": "alternate", "ada_target": 0.0}
    in_nats = signs_meaningful = False
    r1_refusal, scores = "it has no R1", "its scores"

    def losses(self, real_logits, fake_logits, config):
        return -tf.reduce_mean(fake_logits), tf.reduce_mean(fake_logits - real_logits)


def test_a_loss_registered_in_one_place_is_known_to_config_and_health(monkeypatch):
    monkeypatch.setitem(losses.LOSSES, "no-nats", NoNats())
    config = TrainConfig.from_flags({"loss": "no-nats", "gp_weight": 5.0})
    assert (config.balance, config.ada_target, config.gp_weight) == ("alternate", 0.0, 5.0)
    with pytest.raises(UsageError, match=r"which its scores are not; with --loss no-nats use "
                                         r"--balance alternate \(its default\), simultaneous "
                                         r"or ratio"):
        TrainConfig.from_flags({"loss": "no-nats", "balance": "threshold"}).validate()
    with pytest.raises(UsageError, match="--r1_gamma applies with --loss bce or hinge; it has "
                                         "no R1: remove --r1_gamma"):
        TrainConfig.from_flags({"loss": "no-nats", "r1_gamma": 1.0}).validate()
    with pytest.raises(UsageError, match="--label_smoothing applies only with --loss bce"):
        TrainConfig.from_flags({"loss": "no-nats", "label_smoothing": 0.1})
    assert health.assess({"both": 1}, 4.0, 0.05, balance="alternate", loss="no-nats")[0] == \
        "learning"  # loss_D 0.05 is no certainty in a critic's units


def test_hinge_reports_cross_entropies_to_the_controller_and_wgan_its_own_losses():
    hinge, wgan = losses.LOSSES["hinge"], losses.LOSSES["wgan-gp"]
    loss_g, loss_d = hinge.compared(REAL, FAKE, *hinge.losses(REAL, FAKE, TrainConfig()))
    sure = np.log1p(np.exp(-2.0))  # -log sigmoid(2); -log sigmoid(-2) = 2 + sure
    assert loss_d.numpy() == pytest.approx((sure + np.log(2)) / 2)  # real and fake alike
    assert loss_g.numpy() == pytest.approx((2 + sure + np.log(2)) / 2)
    assert wgan.compared(REAL, FAKE, 1.5, -2.0) == (1.5, -2.0)


def test_the_configuration_reads_the_registry_without_loading_tensorflow():
    code = "import sys, gan.config, gan.health; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent).stdout
    assert out.split() == ["False"]
