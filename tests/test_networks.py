import keras
import numpy as np
import pytest

from gan.networks import build_discriminator, build_generator

NORMALIZATION = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                 keras.layers.GroupNormalization, keras.layers.UnitNormalization)


def test_discriminator_has_no_normalization_and_generator_has_batchnorm():
    d = build_discriminator(64, 64)
    g = build_generator(100, 64, 64)
    assert not [layer for layer in d.layers if isinstance(layer, NORMALIZATION)]
    assert len([layer for layer in g.layers
                if isinstance(layer, keras.layers.BatchNormalization)]) == 4


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_and_ranges(size):
    g = build_generator(latent_dim=16, img_size=size, width=8)
    d = build_discriminator(img_size=size, width=8)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype("float32")
    images = np.asarray(g(z, training=False))
    assert images.shape == (3, size, size, 3)
    assert images.min() >= -1 and images.max() <= 1
    logits = np.asarray(d(images))
    assert logits.shape == (3, 1)


def test_generator_last_hidden_layer_has_width_channels():
    g = build_generator(100, 64, 64)
    transposed = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [256, 128, 64, 3]
    assert g.get_layer("image").activation.__name__ == "tanh"
