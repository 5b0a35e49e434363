import pytest

from gan.ada import INTERVAL, AugmentStrength


def run(strength, signs):
    return [strength.update(s) for s in signs]


def test_p_starts_at_zero_and_moves_once_per_interval_by_the_ada_step():
    strength = AugmentStrength(True, target=0.6, kimg=1.28, batch_size=32)   # step 0.1
    assert strength.p == 0
    ps = run(strength, [0.9] * (3 * INTERVAL))
    assert ps[:INTERVAL - 1] == [0] * (INTERVAL - 1)  # nothing until an interval is complete
    assert ps[INTERVAL - 1::INTERVAL] == pytest.approx([0.1, 0.2, 0.3])


def test_p_falls_when_d_is_not_overfitting_and_stays_within_0_and_1():
    strength = AugmentStrength(True, target=0.6, kimg=0.256, batch_size=32)  # step 0.5
    assert run(strength, [1.0] * (4 * INTERVAL))[-1] == 1.0
    assert run(strength, [0.2] * INTERVAL)[-1] == 0.5
    assert run(strength, [-1.0] * (4 * INTERVAL))[-1] == 0.0


def test_the_interval_mean_decides_not_the_last_batch():
    strength = AugmentStrength(True, target=0.6, kimg=1.28, batch_size=32)
    assert run(strength, [1.0, 1.0, 1.0, -0.5])[-1] == pytest.approx(0.1)  # mean 0.625 > 0.6


def test_without_adaptation_every_image_is_augmented():
    strength = AugmentStrength(False, target=0.6, kimg=100, batch_size=32)
    assert run(strength, [1.0, -1.0] * 10) == [1.0] * 20


def test_state_round_trip_continues_exactly():
    signs = [0.9, 0.1, 0.95, 0.7, 0.8, 0.65, 0.2]
    straight = AugmentStrength(True, 0.6, 1.28, 32)
    expected = run(straight, signs + signs)
    first = AugmentStrength(True, 0.6, 1.28, 32)
    run(first, signs)  # stops inside an interval
    second = AugmentStrength(True, 0.6, 1.28, 32)
    second.load_state_dict(first.state_dict())
    assert run(second, signs) == expected[len(signs):]
