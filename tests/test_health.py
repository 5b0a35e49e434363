import json

import pytest

from gan import health

BALANCED = {"both": 10, "g_only": 0, "d_only": 0}


@pytest.mark.parametrize("kwargs, status", [
    (dict(counts=BALANCED, loss_g=0.8, loss_d=0.6), "learning"),
    (dict(counts={"both": 4, "g_only": 6, "d_only": 0}, loss_g=1.5, loss_d=0.3), "D winning"),
    (dict(counts=BALANCED, loss_g=4.0, loss_d=0.05), "D winning"),
    (dict(counts={"both": 3, "g_only": 0, "d_only": 7}, loss_g=0.6, loss_d=0.9), "G winning"),
    (dict(counts=BALANCED, loss_g=0.3, loss_d=1.4), "G winning"),
    (dict(counts=BALANCED, loss_g=0.8, loss_d=0.6, collapse=True, diversity=0.31),
     "collapsing"),
    (dict(counts=BALANCED, loss_g=4.0, loss_d=0.05, collapse=True, rolled_back=True),
     "diverged"),  # the first rule that holds wins
    # a fixed schedule updates D alone by design; a critic's losses are not in nats
    (dict(counts={"both": 2, "g_only": 0, "d_only": 8}, loss_g=0.7, loss_d=0.7,
          balance="ratio"), "learning"),
    (dict(counts=BALANCED, loss_g=4.0, loss_d=0.05, loss="wgan-gp"), "learning"),
    (dict(counts={"both": 3, "g_only": 7, "d_only": 0}, loss_g=4.0, loss_d=-2.0,
          balance="threshold", loss="wgan-gp"), "D winning"),
])
def test_rules(kwargs, status):
    assert health.assess(**kwargs)[0] == status


def test_sentences_say_what_is_measured():
    assert health.assess({"both": 4, "g_only": 6}, 1.5, 0.3)[1] == \
        "D is winning (G updated alone in 60% of batches, loss_D 0.30, loss_G 1.50)"
    assert "diversity 0.31 of real" in health.assess(BALANCED, 0.8, 0.6, True, 0.31)[1]


def test_record_appends_json_lines(tmp_path):
    path = tmp_path / "health.jsonl"
    assert health.record(path, 3, 30, "learning", "learning (...)") == "epoch 3: learning (...)"
    health.record(path, 4, 40, "D winning", "D is winning")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [3, 4] and rows[1]["status"] == "D winning"


# Diversity and nn_ratio at each sample step (every 1,920 images) of two runs of
# benchmarks/collapse_calibration.py (docs/health-calibration.md): a healthy one on faces-400
# at 64 px, whose early samples are alike, and one forced to collapse (--lr_d 1e-6 --lr_g 5e-3).
HEALTHY = [(0.13, 0.13), (0.27, 0.26), (0.28, 0.26), (0.41, 0.38), (0.33, 0.28), (0.41, 0.34)]
FORCED = [(0.07, 0.07), (0.06, 0.05), (0.05, 0.05), (0.05, 0.04), (0.04, 0.04)]


def verdicts(checks, every=1_920):
    rule = health.CollapseRule()
    return [rule.update((i + 1) * every, div, nn) for i, (div, nn) in enumerate(checks)]


def test_collapse_rule_stays_quiet_while_a_healthy_run_learns():
    assert not any(verdicts(HEALTHY))
    # the single-check rule it replaced (either ratio below 0.5) flagged each of these checks
    assert all(min(check) < 0.5 for check in HEALTHY)


def test_collapse_rule_catches_a_forced_collapse_at_the_second_check():
    assert verdicts(FORCED) == [False, True, True, True, True]


def test_collapse_rule_needs_consecutive_low_checks_after_the_warm_up():
    assert verdicts([(0.05, 0.05), (0.9, 0.9), (0.05, 0.05), (0.9, 0.9)]) == [False] * 4
    low = [(0.05, 0.05)] * 4
    assert verdicts(low, every=1_000) == [False, False, True, True]  # 3,000 images
    # exact duplicates show in nn_ratio alone; older metrics.jsonl rows have no nn_ratio
    assert verdicts([(0.8, 0.01)] * 2) == [False, True]
    assert verdicts([(0.1, None), (0.1, None)]) == [False, True]
