import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan.config import TrainConfig
from gan.errors import UsageError
from gan.networks import ARCHITECTURES

NORMALIZATION = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                 keras.layers.GroupNormalization, keras.layers.UnitNormalization)
DCGAN = ARCHITECTURES["dcgan"]


def test_discriminator_has_no_normalization_and_generator_has_batchnorm():
    d = DCGAN.build_discriminator(64, 64)
    g = DCGAN.build_generator(100, 64, 64)
    assert not [layer for layer in d.layers if isinstance(layer, NORMALIZATION)]
    assert len([layer for layer in g.layers
                if isinstance(layer, keras.layers.BatchNormalization)]) == 4


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_and_ranges(size):
    g = DCGAN.build_generator(latent_dim=16, img_size=size, width=8)
    d = DCGAN.build_discriminator(img_size=size, width=8)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype("float32")
    images = np.asarray(g(z, training=False))
    assert images.shape == (3, size, size, 3)
    assert images.min() >= -1 and images.max() <= 1
    logits = np.asarray(d(images))
    assert logits.shape == (3, 1)


def test_generator_last_hidden_layer_has_width_channels():
    g = DCGAN.build_generator(100, 64, 64)
    transposed = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [256, 128, 64, 3]
    assert g.get_layer("image").activation.__name__ == "tanh"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_every_architecture_keeps_the_documented_inputs_and_outputs(arch, size, num_classes):
    g = ARCHITECTURES[arch].build_generator(16, size, 8, 3, num_classes)
    d = ARCHITECTURES[arch].build_discriminator(size, 8, 0.0, 3, num_classes)
    rng = np.random.default_rng(0)
    z = tf.constant(rng.standard_normal((5, 16)), tf.float32) * 30  # large: tanh saturates, in range
    labels = tf.constant([0, 1, 2, 0, 1], tf.int32)
    images = g([z, labels] if num_classes else z, training=True)
    assert images.shape == (5, size, size, 3) and images.dtype == tf.float32
    assert -1 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1
    logits = d([images, labels] if num_classes else images, training=True)
    assert logits.shape == (5, 1) and logits.dtype == tf.float32
    assert np.isfinite(logits.numpy()).all()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_only_the_generator_has_batch_statistics(arch):
    d = ARCHITECTURES[arch].build_discriminator(32, 8, num_classes=2)
    g = ARCHITECTURES[arch].build_generator(16, 32, 8, num_classes=2)
    assert not [layer for layer in d.layers if isinstance(layer, NORMALIZATION)]
    assert [layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_a_discriminator_image_does_not_depend_on_the_rest_of_its_batch(arch):
    d = ARCHITECTURES[arch].build_discriminator(32, 8)
    images = tf.random.uniform((6, 32, 32, 3), -1, 1)
    whole = d(images, training=True).numpy()
    alone = d(images[:2], training=True).numpy()
    np.testing.assert_allclose(whole[:2], alone, rtol=1e-4, atol=1e-5)


def test_arch_help_lists_every_architecture_with_its_description():
    from gan.cli import build_parser
    action = next(a for a in build_parser()._actions if "--arch" in a.option_strings)
    assert action.metavar == "{" + ",".join(ARCHITECTURES) + "}"
    for name, arch in ARCHITECTURES.items():
        assert f"{name}: {arch.description}" in action.help


def test_config_round_trips_arch_and_old_runs_load_as_dcgan(tmp_path):
    path = tmp_path / "config.json"
    TrainConfig(arch="dcgan").save(path)
    assert TrainConfig.load(path).arch == "dcgan"
    values = json.loads(path.read_text())
    del values["arch"]  # a run saved before --arch existed
    path.write_text(json.dumps(values))
    assert TrainConfig.load(path).arch == "dcgan"
    with pytest.raises(UsageError, match="--arch must be one of dcgan.*, got vgg"):
        TrainConfig(arch="vgg").validate()


@pytest.mark.parametrize("arch, commit", [("upconv", "ca2f41e"), ("sle", "ca2f41e"),
                                          ("resnet", "ce890dd")])
def test_a_removed_architecture_is_refused_naming_the_commit_that_has_it(tmp_path, arch, commit):
    with pytest.raises(UsageError, match=rf"--arch {arch} was raced.*removed.*{commit}"):
        TrainConfig(arch=arch).validate()
    path = tmp_path / "config.json"
    TrainConfig().save(path)
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "arch": arch}))
    with pytest.raises(UsageError, match=rf"--arch {arch}.*removed.*git checkout {commit}"):
        TrainConfig.load(path)


def test_skip_generator_draws_the_image_from_every_stage():
    g = ARCHITECTURES["skip"].build_generator(16, 32, 8)
    to_rgb = [layer for layer in g.layers
              if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1)]
    assert [layer.output.shape[1] for layer in to_rgb] == [4, 8, 16]
    last = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)][-1]
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])  # the full-size stage off
    z = np.random.default_rng(0).standard_normal((2, 16)).astype("float32")
    images = np.asarray(g(z, training=False))
    assert images.std() > 1e-3  # the coarser stages still draw an image
    assert np.abs(images[:, 1:] - images[:, :-1]).mean() < images.std()  # a smooth one


def test_skip_discriminator_sees_the_image_at_every_scale():
    d = ARCHITECTURES["skip"].build_discriminator(32, 8)
    pooled = [layer.pool_size for layer in d.layers
              if isinstance(layer, keras.layers.AveragePooling2D)]
    assert pooled == [(2, 2), (4, 4), (8, 8)]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_differentiates_under_bf16_with_xla(arch):
    # --precision auto times bf16 with XLA: a float32 gradient meeting a bfloat16 one fails
    # only there
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        g = ARCHITECTURES[arch].build_generator(16, 32, 8)
        d = ARCHITECTURES[arch].build_discriminator(32, 8)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    @tf.function(jit_compile=True)
    def gradients(z):
        with tf.GradientTape() as tape:
            logits = d(g(z, training=True), training=True)
        return tape.gradient(logits, g.trainable_variables + d.trainable_variables)

    grads = gradients(tf.random.normal((4, 16)))
    assert all(np.isfinite(np.asarray(grad, np.float32)).all() for grad in grads)
