import numpy as np
import pytest
import tensorflow as tf

from gan.augment import augment_pair
from gan.config import AUGMENTATIONS, TrainConfig
from gan.errors import UsageError

SEED = tf.constant([3, 4], tf.int64)


def augment_real(images, policy, seed):
    """The real batch of a pair at p = 1: every operation of `policy` on every image."""
    return augment_pair(images, images, policy, seed)[0]


def batch(n=16, size=32, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)),
                       tf.float32)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_augmentation_keeps_shape_and_is_seeded(name):
    x = batch()
    a = augment_real(x, (name,), SEED)
    assert a.shape == x.shape and a.dtype == tf.float32
    np.testing.assert_array_equal(a, augment_real(x, (name,), SEED))
    assert not np.array_equal(a, augment_real(x, (name,), tf.constant([3, 5], tf.int64)))
    assert not np.array_equal(a, x)


def test_translation_shifts_whole_images_and_pads_with_zero():
    x = batch(n=32)
    a = augment_real(x, ("translation",), SEED).numpy()
    max_shift = 4  # 1/8 of 32 pixels
    for img, out in zip(x.numpy(), a):
        matches = [(dy, dx) for dy in range(-max_shift, max_shift + 1)
                   for dx in range(-max_shift, max_shift + 1)
                   if np.array_equal(out, _shift(img, dy, dx))]
        assert matches, "every output is its input shifted by at most 1/8, zero-padded"


def _shift(img, dy, dx):
    size = img.shape[0]
    padded = np.zeros((size + 2 * size, size + 2 * size, 3), img.dtype)
    padded[size:2 * size, size:2 * size] = img
    return padded[size + dy:2 * size + dy, size + dx:2 * size + dx]


def test_cutout_zeroes_one_square_of_half_the_side_at_most():
    x = batch(n=32)
    a = augment_real(x, ("cutout",), SEED).numpy()
    zeroed = (a == 0).all(axis=-1)
    unchanged = (a == x.numpy()).all(axis=-1)
    assert (zeroed | unchanged).all()
    per_image = zeroed.sum(axis=(1, 2))
    assert per_image.max() == 16 * 16 and per_image.min() > 0  # clipped at the borders


def test_gradients_flow_through_every_augmentation_to_the_images():
    x = batch()
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(augment_real(x, AUGMENTATIONS, SEED) ** 2)
    grad = tape.gradient(y, x).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_config_rejects_unknown_augmentations_and_reads_old_runs_without_them(tmp_path):
    assert TrainConfig(augment="color, cutout").augment_policy() == ("color", "cutout")
    with pytest.raises(UsageError, match="unknown augmentation 'flip'"):
        TrainConfig(augment="color,flip").validate()
    with pytest.raises(UsageError, match="unknown augmentation ''"):
        TrainConfig(augment="color,,cutout").validate()  # an empty name is a typo, not "none"
    TrainConfig(augment="").validate()
    path = tmp_path / "config.json"
    path.write_text('{"img_size": 32}')  # a run saved before EMA and augmentation existed
    old = TrainConfig.load(path)
    assert old.ema_kimg == 0 and old.augment == "" and old.ada_target == 0


def fold(seed, i):
    return tf.random.experimental.stateless_fold_in(seed, i)


def test_pair_at_p_0_leaves_both_batches_and_at_p_1_augments_them_differently():
    real, fake = batch(seed=1), batch(seed=2)
    a, b = augment_pair(real, fake, AUGMENTATIONS, SEED, tf.constant(0.0))
    np.testing.assert_array_equal(a, real)
    np.testing.assert_array_equal(b, fake)
    a, b = augment_pair(real, real, AUGMENTATIONS, SEED, tf.constant(1.0))
    assert not np.array_equal(a, real) and not np.array_equal(b, real)
    assert not np.array_equal(a, b)  # each image its own transformation, fake ones too


def test_pair_applies_each_operation_with_probability_p_to_both_batches_alike():
    real, fake = batch(n=4, size=16, seed=1), batch(n=4, size=16, seed=2)
    applied = []
    for step in range(200):
        seed = tf.constant([5, step], tf.int64)
        a, b = augment_pair(real, fake, ("cutout",), seed, tf.constant(0.3))
        on_real, on_fake = not np.array_equal(a, real), not np.array_equal(b, fake)
        assert on_real == on_fake  # else D could tell real from fake by the augmentation
        applied.append(on_real)
    assert 0.2 < np.mean(applied) < 0.4


def test_gradients_flow_to_the_generated_batch_through_a_chosen_operation():
    real, fake = batch(seed=1), batch(seed=2)
    with tf.GradientTape() as tape:
        tape.watch(fake)
        _, b = augment_pair(real, fake, AUGMENTATIONS, SEED, tf.constant(1.0))
        y = tf.reduce_sum(b ** 2)
    grad = tape.gradient(y, fake).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_adaptive_augmentation_needs_augment_and_a_loss_with_meaningful_signs():
    with pytest.raises(UsageError, match="no augmentation: add --augment"):
        TrainConfig.from_flags({"augment": "", "ada_target": 0.5})
    assert TrainConfig.from_flags({"loss": "wgan-gp"}).augment == ""
    assert TrainConfig.from_flags({"loss": "wgan-gp", "augment": "color"}).ada_target == 0
    with pytest.raises(UsageError, match="use --ada_target 0"):
        TrainConfig.from_flags({"loss": "wgan-gp", "augment": "color",
                                "ada_target": 0.6}).validate()
