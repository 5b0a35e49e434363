import pytest

from gan import health
from gan.balance import (BALANCE_RULES, BalanceRule, Decision, MarginController,
                         SimultaneousController, make_controller)
from gan.cli import parse
from gan.config import TrainConfig
from gan.errors import UsageError

B, G, D = Decision.BOTH, Decision.G_ONLY, Decision.D_ONLY


def run(controller, losses):
    """Feed (loss_g, loss_d) pairs as the previous batch's losses; collect decisions."""
    return [controller.decide(g, d) for g, d in losses]


def test_first_batch_updates_both():
    assert MarginController(0.1, 5).decide(None, None) is B


def test_rule_updates_the_network_that_is_behind():
    c = MarginController(margin=0.1, max_skip=100)
    # G far behind -> G only; D far behind -> D only; inside the margin -> both
    assert run(c, [(1.5, 0.5), (0.5, 1.5), (0.70, 0.65), (0.65, 0.70)]) == [G, D, B, B]


def test_gap_equal_to_margin_updates_both():
    c = MarginController(margin=0.25, max_skip=100)
    assert run(c, [(0.75, 0.5), (0.5, 0.75)]) == [B, B]


def test_skip_bound_forces_an_update_of_the_starved_network():
    c = MarginController(margin=0.1, max_skip=3)
    decisions = run(c, [(2.0, 0.1)] * 9)  # G always far behind: D would be starved forever
    assert decisions == [G, G, G, B, G, G, G, B, G]
    c = MarginController(margin=0.1, max_skip=2)
    assert run(c, [(0.1, 2.0)] * 6) == [D, D, B, D, D, B]


def test_no_network_is_skipped_more_than_max_skip_on_any_sequence():
    import random
    rng = random.Random(0)
    c = MarginController(margin=0.05, max_skip=4, loss_ema=0.5)
    skipped = {"g": 0, "d": 0}
    for _ in range(2000):
        d = c.decide(rng.uniform(0, 3), rng.uniform(0, 3))
        skipped["g"] = 0 if d.updates_g else skipped["g"] + 1
        skipped["d"] = 0 if d.updates_d else skipped["d"] + 1
        assert max(skipped.values()) <= 4


def test_loss_ema_ignores_a_single_outlier():
    last_only = MarginController(0.1, 100, loss_ema=0.0)
    smoothed = MarginController(0.1, 100, loss_ema=0.9)
    losses = [(0.7, 0.7)] * 10 + [(1.5, 0.7)]
    assert run(last_only, losses)[-1] is G
    assert run(smoothed, losses)[-1] is B  # 0.9 * 0.7 + 0.1 * 1.5 = 0.78: gap 0.08


def test_state_round_trip_continues_identically():
    losses = [(0.7 + 0.3 * (i % 4), 0.6 + 0.1 * (i % 3)) for i in range(40)]
    straight = MarginController(0.1, 2, 0.5)
    expected = run(straight, losses)
    first = MarginController(0.1, 2, 0.5)
    head = run(first, losses[:17])
    second = MarginController(0.1, 2, 0.5)
    second.load_state_dict(first.state_dict())
    assert head + run(second, losses[17:]) == expected


def test_simultaneous_always_updates_both():
    assert set(run(SimultaneousController(), [(5.0, 0.0), (0.0, 5.0), (None, None)])) == {B}


@pytest.mark.parametrize("balance, kind", [("margin", MarginController),
                                           ("simultaneous", SimultaneousController)])
def test_make_controller_follows_config(balance, kind):
    assert isinstance(make_controller(TrainConfig(balance=balance)), kind)


def test_alternate_is_strictly_d_then_g():
    from gan.balance import AlternateController
    assert run(AlternateController(), [(None, None)] + [(0.7, 0.7)] * 4) == [D, G, D, G, D]


def test_threshold_skips_d_while_its_loss_is_low():
    from gan.balance import ThresholdController
    c = ThresholdController(d_threshold=0.3)
    assert run(c, [(None, None), (2.0, 0.1), (1.0, 0.29), (0.8, 0.3), (0.7, 0.6)]) == \
        [B, G, G, B, B]


def test_ratio_gives_k_d_updates_per_g_update():
    from gan.balance import RatioController
    decisions = run(RatioController(d_steps=3), [(0.7, 0.7)] * 9)
    assert decisions == [D, D, B] * 3
    assert sum(x.updates_d for x in decisions) == 3 * sum(x.updates_g for x in decisions)


@pytest.mark.parametrize("balance", ["alternate", "ratio"])
def test_counting_controllers_resume_where_they_stopped(balance):
    config = TrainConfig(balance=balance, d_steps=3)
    straight = run(make_controller(config), [(0.7, 0.7)] * 7)
    first = make_controller(config)
    head = run(first, [(0.7, 0.7)] * 4)
    second = make_controller(config)
    second.load_state_dict(first.state_dict())
    assert head + run(second, [(0.7, 0.7)] * 3) == straight


def test_the_start_up_line_shows_each_rules_own_settings():
    config = TrainConfig(margin=0.25, max_skip=3, loss_ema=0.9, d_steps=4)
    assert MarginController.describe(config) == "margin 0.25, max_skip 3, loss_ema 0.9"
    assert BALANCE_RULES["ratio"].describe(config) == "d_steps 4"
    assert SimultaneousController.describe(config) == ""


class EveryOther(BalanceRule):
    """A rule added in one place: G alone on every d_steps-th batch, else both."""
    name, description, flags, needs_nats = "every-other", "G alone now and then", ("d_steps",), True

    def __init__(self, d_steps: int):
        self.d_steps = d_steps

    def decide(self, loss_g, loss_d):
        return G


def test_a_rule_registered_in_one_place_is_known_to_config_and_make_controller(monkeypatch):
    monkeypatch.setitem(BALANCE_RULES, "every-other", EveryOther)
    config = TrainConfig.from_flags({"balance": "every-other", "d_steps": 7})
    config.validate()
    controller = make_controller(config)
    assert isinstance(controller, EveryOther) and controller.d_steps == 7
    TrainConfig.from_flags({"balance": "ratio", "d_steps": 7})  # still ratio's flag too
    with pytest.raises(UsageError, match="--d_steps applies only with --balance ratio or "
                                         "every-other; this run has --balance margin"):
        TrainConfig.from_flags({"d_steps": 7})
    with pytest.raises(UsageError, match="--balance every-other compares losses in nats"):
        TrainConfig.from_flags({"loss": "wgan-gp", "balance": "every-other"}).validate()
    assert parse(["--balance", "every-other"])[1] == {"balance": "every-other"}
    # it does not react to the losses: G alone in 90% of batches is its schedule
    assert health.assess({"g_only": 9, "both": 1}, 0.7, 0.7,
                         balance="every-other")[0] == "learning"
