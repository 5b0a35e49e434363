import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from gan.balance import Decision
from gan.config import TrainConfig
from gan.errors import UsageError
from gan.training import train
from gan.vaegan import VAEGAN, build_encoder, feature_model


def colour_images(n_per=6, size=32):
    """Four flat colours with a bright square at a colour-specific place: distinct images."""
    out = []
    for k, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 220), (230, 230, 230)]):
        image = np.zeros((size, size, 3), np.uint8) + np.uint8(colour)
        corner = (k % 2) * size // 2, (k // 2) * size // 2
        image[corner[0]:corner[0] + size // 2, corner[1]:corner[1] + size // 2] = 255 - image[0, 0]
        out += [image] * n_per
    return np.stack(out)


@pytest.fixture
def vae_config(tiny_config):
    return dataclasses.replace(tiny_config, model="vaegan", ema_kimg=0.0, augment="",
                               ada_target=0.0)


def test_encoder_and_features_have_the_documented_shapes(vae_config):
    encoder = build_encoder(32, 8, 16)
    mean, log_var = encoder(tf.zeros((2, 32, 32, 3)))
    assert mean.shape == log_var.shape == (2, 16) and mean.dtype == tf.float32
    names = [type(layer).__name__.lower() for layer in encoder.layers]
    assert not [name for name in names if "normalization" in name]
    gan = VAEGAN(vae_config)
    assert feature_model(gan.discriminator)(tf.zeros((2, 32, 32, 3))).shape.rank == 4
    assert {"encoder", "e_optimizer"} <= gan.trackables().keys()


def test_vaegan_steps_trace_once_each_and_update_the_encoder_with_g(vae_config):
    gan = VAEGAN(vae_config)
    real, latents = tf.random.uniform((8, 32, 32, 3), -1, 1), tf.random.normal((8, 16))
    before = [w.numpy().copy() for w in gan.encoder.trainable_variables]
    gan.step(real, latents, Decision.D_ONLY)
    assert all(np.array_equal(a, b.numpy())
               for a, b in zip(before, gan.encoder.trainable_variables))
    for decision in list(Decision) * 3:
        out = gan.step(real, latents, decision)
        assert np.isfinite(out).all()
    assert gan.traces == 3
    assert not all(np.array_equal(a, b.numpy())
                   for a, b in zip(before, gan.encoder.trainable_variables))


def test_vaegan_resumes_exactly_and_generates(tmp_path, vae_config):
    from gan.generate import load_generator
    config = dataclasses.replace(vae_config, margin=0.01, lr_g=0.01, lr_d=0.01, epochs=2)
    images = colour_images()
    straight, split = tmp_path / "straight", tmp_path / "split"
    for d in (straight, split):
        d.mkdir()
        config.save(d / "config.json")
    assert train(config, straight, images).exit_code == 0
    assert train(dataclasses.replace(config, epochs=1), split, images).exit_code == 0
    assert train(config, split, images, resume=True).exit_code == 0
    from tests.test_training import final_weights
    a, b = final_weights(straight), final_weights(split)
    assert any(name.startswith("e_optimizer") for name in a)  # E and its Adam slots
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
    generator = load_generator(straight)
    assert generator.generate([1, 2]).shape == (2, 32, 32, 3)
    latents = generator.encode(images[::6], steps=1)  # the encoder's means, one step refined
    assert latents.shape == (4, 16) and np.isfinite(latents).all()
    untrained = VAEGAN(config).encoder.predict_on_batch(images[::6] / 127.5 - 1)[0]
    assert np.abs(untrained - latents).max() > 0.1, "the run's encoder was not loaded"
    refined = generator.encode(images[::6], steps=20)
    errors = [np.abs(generator.from_latents(z).astype(float) - images[::6]).mean()
              for z in (latents, refined)]
    assert errors[1] < errors[0], "projection steps refine the encoder's guess"


def test_a_reconstruction_is_closer_to_its_image_than_to_the_others(vae_config):
    from gan.balance import make_controller
    config = dataclasses.replace(vae_config, lr_g=2e-3, lr_d=2e-3)
    gan, images, controller = VAEGAN(config), colour_images(), make_controller(config)
    real = tf.constant(images, tf.float32) / 127.5 - 1
    rng, last = np.random.default_rng(0), (None, None)
    for step in range(300):  # margin-gated, as training does: D alone wins at once here
        batch = tf.gather(real, rng.choice(len(images), 8, replace=False))
        out = gan.step(batch, tf.random.normal((8, 16)), controller.decide(*last), step)
        last = (float(out[0]), float(out[1]))
    picks = real[::6].numpy()  # one image of each kind
    decoded = gan.generator(gan.encode(picks), training=False).numpy()
    distance = np.abs(decoded[:, None] - picks[None]).mean(axis=(2, 3, 4))  # (decoded, image)
    others = (distance.sum(axis=1) - np.diag(distance)) / 3
    assert (np.diag(distance) < others).all(), distance


def test_vaegan_refuses_what_it_does_not_support():
    for flags in ({"conditional": True}, {"loss": "wgan-gp"}, {"r1_gamma": 0.1}):
        with pytest.raises(UsageError, match="--model vaegan"):
            TrainConfig.from_flags({"model": "vaegan", **flags}).validate()
    with pytest.raises(UsageError, match="--kl_weight applies only with --model vaegan"):
        TrainConfig.from_flags({"kl_weight": 2.0})
