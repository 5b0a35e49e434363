import json

import pytest
import tensorflow as tf

from gan.checkpoints import CheckpointStore, checkpoint_name
from gan.errors import UsageError


def test_names_count_completed_epochs_and_batches():
    assert checkpoint_name(3, 0) == "epoch_0003"
    assert checkpoint_name(3, 5) == "epoch_0003_plus_0005_batches"  # 5 batches into epoch 4


def test_names_sort_in_training_order():
    names = [checkpoint_name(e, b) for e, b in [(0, 3), (1, 0), (1, 2), (10, 0), (10, 1)]]
    assert sorted(names) == names
    assert sorted(n + ".png" for n in names) == [n + ".png" for n in names]  # sample grids


def test_old_names_still_load_and_a_damaged_index_orders_by_step(tmp_path, capsys):
    store, var = make_store(tmp_path, 1.0)
    step = {"epoch_0002_batch_0003": 7, "epoch_0002": 8}  # an older version's names
    store.save("epoch_0002_batch_0003", {"progress": {"step": 7}}, keep=True)
    var.assign(2.0)
    store.save("epoch_0002", {"progress": {"step": 8}}, keep=True)
    other, other_var = make_store(tmp_path)
    assert other.resolve("epoch_0002_batch_0003") == tmp_path / "epoch_0002_batch_0003"
    assert other.readable() == sorted(step, key=step.get, reverse=True)
    (tmp_path / "index.json").write_text('{"latest": "epoch_00')  # cut short
    assert other.restore_latest()[0] == tmp_path / "epoch_0002" and other_var.numpy() == 2.0
    assert "index.json is damaged; using the checkpoint folders instead (latest: epoch_0002)" \
        in capsys.readouterr().err


def make_store(folder, value=0.0):
    var = tf.Variable(value)
    return CheckpointStore(folder, var=var), var


def test_latest_replaces_the_previous_unless_kept(tmp_path):
    store, var = make_store(tmp_path)
    store.save("epoch_0001", {"n": 1}, keep=True)
    store.save("epoch_0002", {"n": 2})
    store.save("epoch_0003", {"n": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001", "epoch_0003",
                                                         "index.json"]
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["latest"] == "epoch_0003" and index["kept"] == ["epoch_0001"]
    assert not list(tmp_path.glob(".tmp*"))


def test_restore_loads_values_and_state(tmp_path):
    store, var = make_store(tmp_path, 1.5)
    store.save("epoch_0001", {"progress": 7}, keep=True)
    var.assign(9.0)
    store.save("epoch_0002", {"progress": 8})
    other, other_var = make_store(tmp_path)
    assert other.restore(other.resolve("epoch_0001")) == {"progress": 7}
    assert other_var.numpy() == 1.5
    assert other.restore(other.resolve("latest")) == {"progress": 8}
    assert other_var.numpy() == 9.0
    assert other.resolve(str(tmp_path / "epoch_0001")) == tmp_path / "epoch_0001"


def test_missing_checkpoints_are_usage_errors(tmp_path):
    store, _ = make_store(tmp_path)
    with pytest.raises(UsageError, match="latest"):
        store.resolve("latest")
    store.save("epoch_0001", {})
    with pytest.raises(UsageError, match="no scored checkpoint"):
        store.resolve("best")
    with pytest.raises(UsageError, match="epoch_0001"):  # lists what exists
        store.resolve("epoch_0099")


def test_an_interrupted_save_leaves_the_latest_intact(tmp_path, monkeypatch):
    store, var = make_store(tmp_path, 2.0)
    store.save("epoch_0001", {"ok": True})

    def fail(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
    monkeypatch.setattr(store.checkpoint, "write", fail)
    with pytest.raises(OSError, match=r"epoch_0002 \(No space left on device\); the latest "
                                      r"complete one, epoch_0001, is intact"):
        store.save("epoch_0002", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001", "index.json"]
    other, other_var = make_store(tmp_path)
    assert other.restore(other.resolve("latest")) == {"ok": True}
    assert other_var.numpy() == 2.0


def test_unreadable_latest_falls_back_to_the_newest_readable(tmp_path, capsys):
    store, var = make_store(tmp_path, 1.0)
    store.save("epoch_0001", {"n": 1}, keep=True)
    var.assign(2.0)
    store.save("epoch_0002", {"n": 2})
    data = next((tmp_path / "epoch_0002").glob("ckpt.data*"))
    data.write_bytes(data.read_bytes()[:3])  # truncated
    other, other_var = make_store(tmp_path)
    assert other.restore_latest() == (tmp_path / "epoch_0001", {"n": 1})
    assert other_var.numpy() == 1.0
    assert "epoch_0002/ckpt.{index,data-00000-of-00001} is damaged" in capsys.readouterr().err
