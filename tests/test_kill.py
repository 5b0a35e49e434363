"""kill -9 at random moments, resume, repeat: the run always resumes, no checkpoint is ever
unreadable, and the final weights equal those of an uninterrupted run with the same seed.

The default suite runs 2 kills; `python -m pytest -m slow tests/test_kill.py` runs 50.
"""
import json
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from test_cli import copy_demo_images

TRAIN = [sys.executable, str(ROOT / "train.py")]
TINY = ["--img_size", "32", "--width", "8", "--latent_dim", "16", "--batch_size", "8",
        "--seed", "5", "--save_every", "1", "--no-xla"]


def weights(run_dir):
    index = json.loads((run_dir / "checkpoints" / "index.json").read_text())
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / index["latest"] / "ckpt"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "OBJECT_GRAPH" not in k}


def every_checkpoint_is_readable(run_dir):
    for folder in (run_dir / "checkpoints").glob("epoch_*"):
        reader = tf.train.load_checkpoint(str(folder / "ckpt"))
        assert reader.get_variable_to_shape_map(), folder
        json.loads((folder / "state.json").read_text())


def latest(run_dir):
    try:
        return json.loads((run_dir / "checkpoints" / "index.json").read_text())["latest"]
    except (OSError, ValueError, KeyError):  # not written yet, or caught mid-replace
        return None


def kill_and_resume(tmp_path, kills, epochs):
    data = copy_demo_images(tmp_path / "faces", n=24)
    runs = tmp_path / "runs"
    first = TRAIN + ["--path", str(data), "--epochs", str(epochs), "--runs_dir", str(runs),
                     "--name", "killed", *TINY]
    resume = TRAIN + ["--resume", "killed", "--runs_dir", str(runs)]
    rng = random.Random(0)
    survived = 0
    command = first
    while survived < kills:
        before = latest(runs / "killed")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Start-up takes seconds (more on a busy machine): kill at a random moment after
        # this process has saved a checkpoint, when it is training and saving every epoch.
        deadline = time.time() + 120
        while (proc.poll() is None and latest(runs / "killed") == before
               and time.time() < deadline):
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.5))
        if proc.poll() is not None:  # finished before the kill: nothing more to test
            assert proc.returncode == 0, proc.stderr.read()[-2000:]
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        survived += 1
        command = resume
        every_checkpoint_is_readable(runs / "killed")
    if latest(runs / "killed") != f"epoch_{epochs:04d}":  # not finished: finish it
        final = subprocess.run(resume, capture_output=True, text=True)
        assert final.returncode == 0, final.stderr[-2000:]
    subprocess.run(TRAIN + ["--path", str(data), "--epochs", str(epochs), "--runs_dir",
                            str(runs), "--name", "straight", *TINY], check=True,
                   capture_output=True)
    a, b = weights(runs / "killed"), weights(runs / "straight")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
    return survived


def test_survives_kill_9_short(tmp_path):
    assert kill_and_resume(tmp_path, kills=2, epochs=30) >= 1


@pytest.mark.slow
def test_survives_kill_9_long(tmp_path):
    survived = kill_and_resume(tmp_path, kills=50, epochs=400)
    print(f"survived {survived} kills")
    assert survived == 50
