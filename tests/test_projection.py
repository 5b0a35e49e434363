import numpy as np
import pytest

from gan import load_generator
from gan.data import DEMO_PATH, read_images
from gan.encode import reconstruction_errors
from gan.projection import project


def demo_photos(n=3):
    return read_images(sorted(DEMO_PATH.glob("*.png"))[:n], 32)


def test_projection_lowers_its_loss(trained_run):
    g = load_generator(trained_run)
    result = project(g.model, g.generate([21, 22, 23]), steps=40)
    assert result.losses.shape == (40,) and result.losses.dtype == np.float32
    assert result.losses[-1] < 0.6 * result.losses[0]  # images it can draw: far lower
    assert result.latents.shape == (3, 16) and result.latents.dtype == np.float32
    photos = project(g.model, demo_photos(), steps=40).losses
    assert photos[-1] < photos[0]  # emoji it cannot draw: lower


def test_projecting_a_generated_image_finds_that_image(trained_run):
    g = load_generator(trained_run)
    target, other = g.generate([11, 12])
    latents = g.encode(target[None], steps=60)
    found = g.from_latents(latents)
    near, far = reconstruction_errors(found, np.stack([target, other]))
    assert near < 0.5 * far


def test_encode_gives_one_latent_per_photo_the_same_every_time(trained_run):
    g = load_generator(trained_run)
    latents = g.encode(demo_photos(2), steps=3)
    assert latents.shape == (2, 16) and latents.dtype == np.float32
    np.testing.assert_array_equal(latents, g.encode(demo_photos(2), steps=3))
    with pytest.raises(ValueError):
        g.encode(demo_photos(2), steps=0)
