"""Under tf.distribute, 2 replicas x 8 images must train exactly like 1 replica x 16, and
under MultiWorkerMirroredStrategy only the chief writes the run.

TensorFlow's devices are fixed at start-up, so the checks run in fresh processes: one that
splits the CPU into two logical devices, and two workers on loopback (TF_CONFIG)."""
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT
from gan.cli import main
from gan.distribute import Worker, resolve, worker, write_dir

SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from gan.balance import Decision
from gan.config import TrainConfig
from gan.model import GAN

# fp32: bf16 rounding differs with the split of the batch, well above the 1e-4 checked here;
# no augmentation: its random draws are per replica (alike in distribution, not in value)
config = TrainConfig(img_size=32, width=8, latent_dim=16, xla=False, seed=1, precision="fp32",
                     augment="")
rng = np.random.default_rng(0)
real = rng.uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
latents = rng.standard_normal((16, 16)).astype("float32")
decisions = [Decision.BOTH, Decision.G_ONLY, Decision.D_ONLY, Decision.BOTH, Decision.BOTH]

single = GAN(config)
single_out = [single.step(tf.constant(real), tf.constant(latents), d) for d in decisions]

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
multi = GAN(config, strategy=strategy)
assert multi.replicas == 2
batch = next(iter(strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensors((real, latents)))))
multi_out = [multi.step(*batch, d) for d in decisions]

np.testing.assert_allclose(np.array(single_out), np.array(multi_out), rtol=1e-4, atol=1e-5)
# Weights to half an Adam step (lr 2e-4): Adam divides by the gradient's own scale, so a
# weight whose gradient is near 0 moves by float noise in the summing order up to a step
# (seen: 3e-5 with --arch skip); an update missed or doubled moves every weight by a step.
for model in ("generator", "discriminator"):
    for a, b in zip(getattr(single, model).weights, getattr(multi, model).weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4, err_msg=a.path)
assert multi.traces == 3 * 2, multi.traces  # three steps, each traced once per replica
print("OK")
"""


def test_two_replicas_train_like_one():
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize("tf_config, expected", [("", "none"), ('{"cluster": {}}', "multiworker")])
def test_auto_strategy(monkeypatch, tf_config, expected):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert resolve("auto") == expected
    assert resolve("mirrored") == "mirrored"


def tf_config(index: int, ports, task_type: str = "worker", chief_port=None) -> str:
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    if chief_port:
        cluster["chief"] = [f"localhost:{chief_port}"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("strategy, config, expected", [
    ("multiworker", "", Worker("worker 0", 1, True)),  # no TF_CONFIG: a cluster of one
    ("auto", tf_config(0, [1, 2]), Worker("worker 0", 2, True)),
    ("auto", tf_config(1, [1, 2]), Worker("worker 1", 2, False)),
    ("multiworker", tf_config(0, [1, 2], chief_port=3), Worker("worker 0", 3, False)),
    ("auto", tf_config(0, [1, 2], "chief", chief_port=3), Worker("chief 0", 3, True)),
    ("none", tf_config(1, [1, 2]), Worker("worker 0", 1, True)),  # TF_CONFIG not used
])
def test_the_chief_is_the_chief_task_or_worker_0(monkeypatch, strategy, config, expected):
    monkeypatch.setenv("TF_CONFIG", config)  # "" as unset
    assert worker(strategy) == expected


def test_only_the_chief_writes_in_the_run_folder(tmp_path):
    run = tmp_path / "runs" / "mw"
    with write_dir(run, Worker()) as folder:
        assert folder == run
    with pytest.raises(KeyboardInterrupt):
        with write_dir(run, Worker("worker 1", 2, False)) as folder:
            assert folder.is_dir() and not folder.is_relative_to(tmp_path)
            assert folder.parent == Path(tempfile.gettempdir())
            (folder / "checkpoints").mkdir()
            raise KeyboardInterrupt  # a stop still removes the temporary copy
    assert not folder.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("index, argv, expected", [
    (0, [], "--distribute multiworker with 2 workers: give the new run a --name"),
    (1, [], "--distribute multiworker with 2 workers: give the new run a --name"),
    (0, ["--resume"], "--resume: with 2 workers give the run's name"),
    (1, ["--resume", "mw"], "worker 1 resumes from the chief's run folder, and"),
])
def test_workers_must_agree_on_the_run(capsys, monkeypatch, tmp_path, index, argv, expected):
    monkeypatch.setenv("TF_CONFIG", tf_config(index, [1, 2]))
    runs = tmp_path / "runs"
    assert main(["--runs_dir", str(runs)] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not runs.exists()


def test_a_malformed_tf_config_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": ')
    assert main(["--runs_dir", str(tmp_path / "runs"), "--name", "mw"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: TF_CONFIG is not a cluster"), err


# Equality with one process needs fp32 (bf16 rounding depends on the batch's split) and no
# augmentation (its random draws are per replica); a high learning rate and a small margin
# on the last batch's losses give all three decisions within 16 batches.
MIXED = ["--img_size", "32", "--width", "8", "--latent_dim", "16", "--batch_size", "8",
         "--no-xla", "--precision", "fp32", "--augment", "", "--margin", "0.05", "--loss_ema",
         "0", "--lr_g", "0.005", "--lr_d", "0.005"]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train_processes(tmp_path, runs_dirs: list, *flags) -> list[str]:
    """Train with one process per runs folder (several: a MultiWorkerMirroredStrategy cluster
    on loopback, each worker with its own temporary folder); returns their outputs."""
    ports = free_ports(len(runs_dirs))
    procs = []
    for index, runs in enumerate(runs_dirs):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TMPDIR=str(tmp_path / f"tmp{index}"))
        env.pop("TF_CONFIG", None)
        if len(runs_dirs) > 1:
            env["TF_CONFIG"] = tf_config(index, ports)
        os.makedirs(env["TMPDIR"], exist_ok=True)
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), "--path", str(tmp_path / "images"),
             "--runs_dir", str(runs), *MIXED, *flags], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    for index in range(len(runs_dirs)):  # no temporary copy left behind
        assert os.listdir(tmp_path / f"tmp{index}") == [], index
    return outputs


def losses(run) -> list[dict]:
    with open(run / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


def weights(run) -> dict:
    """Every value in the run's latest checkpoint: G, D, the EMA of G, both optimizers'
    state (G's and D's trainable weights are saved under their optimizer's name)."""
    import tensorflow as tf
    index = json.loads((run / "checkpoints" / "index.json").read_text())
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / index["latest"] / "ckpt"))
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.slow
def test_two_workers_train_one_run_like_one_process(tmp_path):
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    for k in range(32):
        cv2.imwrite(str(tmp_path / "images" / f"{k:02d}.png"),
                    rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    started = time.monotonic()
    single = tmp_path / "single"
    train_processes(tmp_path, [single], "--distribute", "none", "--name", "one", "--epochs",
                    "4")
    reference = losses(single / "one")
    decisions = [row["decision"] for row in reference]
    assert {"both", "g_only", "d_only"} <= set(decisions), decisions
    expected = weights(single / "one")

    shared = tmp_path / "shared"  # both workers in one folder, stopped and resumed half-way
    train_processes(tmp_path, [shared, shared], "--name", "mw", "--epochs", "2")
    outputs = train_processes(tmp_path, [shared, shared], "--resume", "mw", "--epochs", "4")
    assert "resuming at epoch 3" in outputs[1], outputs[1][-2000:]
    separate = [tmp_path / "chief", tmp_path / "other"]
    outputs = train_processes(tmp_path, separate, "--name", "mw", "--epochs", "4")
    assert "done: worker 1 of 2; the chief wrote run mw" in outputs[1]
    assert not separate[1].exists()  # the other worker's --runs_dir stays untouched
    for runs in (shared, separate[0]):
        assert sorted(p.name for p in runs.iterdir()) == [".cache", "mw"]
        rows = losses(runs / "mw")
        assert [row["decision"] for row in rows] == decisions
        loss_difference = np.abs(np.array([[float(r["loss_g"]), float(r["loss_d"])] for r in rows])
                                 - [[float(r["loss_g"]), float(r["loss_d"])] for r in reference])
        got = weights(runs / "mw")
        assert got.keys() == expected.keys() and len(expected) > 80
        difference = {k: float(np.abs(got[k] - expected[k]).max()) for k in expected}
        print(f"{runs.name}: decisions {decisions}; largest difference: losses "
              f"{loss_difference.max():.1e}, G's weights "
              f"{max(v for k, v in difference.items() if k.startswith('g_optimizer/_train')):.1e}"
              f", any value in the checkpoint {max(difference.values()):.1e}")
        assert loss_difference.max() < 2e-4 and max(difference.values()) < 1e-4
    print(f"{time.monotonic() - started:.0f} s")
