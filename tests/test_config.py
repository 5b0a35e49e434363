import pytest

from gan.config import EVERY_IMAGES, TrainConfig
from gan.errors import UsageError


@pytest.mark.parametrize("num_images, expected", [(400, 5), (24, 83), (2_000, 1), (9_000, 1)])
def test_sample_grids_default_to_about_every_2000_images(num_images, expected):
    assert EVERY_IMAGES["sample_every"] == 2_000
    assert TrainConfig().every("sample_every", num_images) == expected


def test_a_given_cadence_wins_over_the_default():
    config = TrainConfig(save_every=3, sample_every=7, eval_every=0)
    assert [config.every(job, 400) for job in ("save_every", "sample_every", "eval_every")] == [
        3, 7, 0]


def test_evaluation_is_off_by_default_for_quick_runs():
    assert TrainConfig(epochs=19).every("eval_every", 400) == 0
    assert TrainConfig(epochs=20).every("eval_every", 400) == 50


@pytest.mark.parametrize("flag", ["save_every", "sample_every", "max_minutes"])
def test_a_cadence_or_budget_of_zero_is_refused(flag):
    with pytest.raises(UsageError, match=f"--{flag} must be > 0, got 0: give a positive"):
        TrainConfig(**{flag: 0}).validate()


@pytest.mark.parametrize("flag", ["margin", "r1_gamma", "gp_weight", "ema_kimg", "eval_every"])
def test_negative_weights_are_refused_and_zero_is_allowed(flag):
    TrainConfig(**{flag: 0}).validate()
    with pytest.raises(UsageError, match=f"--{flag} must be >= 0, got -1: give 0 or a"):
        TrainConfig(**{flag: -1}).validate()


@pytest.mark.parametrize("flag, value", [("r1_gamma", float("nan")), ("lr_g", float("nan")),
                                         ("max_minutes", float("inf"))])
def test_non_finite_numbers_are_refused(flag, value):
    with pytest.raises(UsageError, match=f"--{flag} must be a finite number, got {value}"):
        TrainConfig(**{flag: value}).validate()


def test_r1_is_refused_with_wgan_gp_which_has_its_own_penalty():
    with pytest.raises(UsageError, match="--r1_gamma applies with --loss bce or hinge"):
        TrainConfig.from_flags({"loss": "wgan-gp", "r1_gamma": 0.1}).validate()
    TrainConfig.from_flags({"loss": "hinge", "r1_gamma": 0.1}).validate()
