"""TensorBoard event files of training runs (gan/summaries.py)."""
import dataclasses
from collections import defaultdict

import numpy as np
import tensorflow as tf

from gan.summaries import TrainingBoard
from gan.training import train

from test_training import tiny_images


def read_events(folder) -> dict:
    """{tag: [(step, value)]} over every event file in `folder`, in the order written; an
    image's value is its (height, width) as encoded."""
    events = defaultdict(list)
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":
                    item = (int(array[1]), int(array[0]))  # [width, height, png...]
                else:
                    item = array.item()
                events[value.tag].append((event.step, item))
    return events


def test_a_run_and_its_resume_write_scalars_and_grids_at_their_batch_steps(tmp_path,
                                                                            tiny_config):
    config = dataclasses.replace(tiny_config, epochs=3, sample_every=1)  # 3 batches an epoch
    assert train(dataclasses.replace(config, epochs=2), tmp_path, tiny_images()).exit_code == 0
    assert train(config, tmp_path, tiny_images(), resume=True).exit_code == 0

    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2  # one per session
    events = read_events(tmp_path)
    assert set(events) == {"loss/G", "loss/D", "balance/both", "balance/g_only",
                           "balance/d_only", "augment/p", "learning_rate/G",
                           "learning_rate/D", "samples"}
    for tag in set(events) - {"samples"}:
        assert [step for step, _ in events[tag]] == [3, 6, 9], tag
    shares = np.array([[v for _, v in events[f"balance/{d}"]]
                       for d in ("both", "g_only", "d_only")])
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, rtol=1e-6)
    assert all(0.3 < v < 3 for _, v in events["loss/G"] + events["loss/D"])
    assert [v for _, v in events["learning_rate/G"]] == [np.float32(config.lr_g)] * 3
    assert all(0 <= v <= 1 for _, v in events["augment/p"])
    grid = 8 * (32 + 2) + 2  # 8 x 8 tiles of 32 px with 2 px gaps
    assert events["samples"] == [(step, (grid, grid)) for step in (0, 3, 6, 9)]


def test_kd_checks_are_scalars_and_a_disabled_board_writes_nothing(tmp_path):
    result = {"kd": 0.25, "kd_std": 0.01, "diversity": 0.8, "collapse": False}
    board = TrainingBoard(tmp_path / "chief")
    board.evaluation(40, result)
    board.close()
    events = read_events(tmp_path / "chief")
    assert {tag: values for tag, values in events.items()} == {
        "eval/kd": [(40, np.float32(0.25))], "eval/kd_std": [(40, np.float32(0.01))],
        "eval/diversity": [(40, np.float32(0.8))], "eval/collapse": [(40, 0.0)]}

    worker = TrainingBoard(tmp_path / "worker", enabled=False)
    worker.evaluation(40, result)
    worker.samples(40, np.zeros((10, 10, 3), np.uint8))
    worker.close()
    assert not (tmp_path / "worker").exists()
