import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def tiny_config():
    """A configuration small enough to train in seconds: 32 px, narrow networks, no XLA
    (compiling costs more than it saves at this size; the CLI tests use the default)."""
    from gan.config import TrainConfig
    return TrainConfig(img_size=32, width=8, latent_dim=16, batch_size=8, epochs=2, seed=3,
                       xla=False)


@pytest.fixture
def faces_400():
    folder = SHARED / "faces-400"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


@pytest.fixture
def run_dir(tmp_path, tiny_config):
    """runs/00000-tiny: a run folder holding one checkpoint of an untrained model."""
    from gan.checkpoints import CheckpointStore, checkpoint_name
    from gan.model import GAN
    run = tmp_path / "runs" / "00000-tiny"
    run.mkdir(parents=True)
    tiny_config.save(run / "config.json")
    gan = GAN(tiny_config)
    CheckpointStore(run / "checkpoints", **gan.trackables()).save(checkpoint_name(0, 0), {})
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """runs/00000-demo: a tiny unconditional run trained for 10 epochs (70 batches) on the
    bundled demo faces, so that its generator draws face-like blobs rather than noise."""
    from gan.config import TrainConfig
    from gan.data import DEMO_PATH, load_images
    from gan.training import train
    config = TrainConfig(img_size=32, width=8, latent_dim=16, batch_size=16, epochs=10, seed=3,
                         xla=False, precision="fp32", ema_kimg=0.1, path=str(DEMO_PATH))
    run = tmp_path_factory.mktemp("trained") / "runs" / "00000-demo"
    run.mkdir(parents=True)
    config.save(run / "config.json")
    assert train(config, run, load_images(DEMO_PATH, 32)).exit_code == 0
    return run
