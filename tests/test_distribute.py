"""Under tf.distribute, 2 replicas x 8 images must train exactly like 1 replica x 16.

TensorFlow's devices are fixed at start-up, so the check runs in a fresh process that splits
the CPU into two logical devices."""
import subprocess
import sys

import pytest

from conftest import ROOT
from gan.distribute import resolve

SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from gan.balance import Decision
from gan.config import TrainConfig
from gan.training import GAN

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
for model in ("generator", "discriminator"):
    for a, b in zip(getattr(single, model).weights, getattr(multi, model).weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
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
