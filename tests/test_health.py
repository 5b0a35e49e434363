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
