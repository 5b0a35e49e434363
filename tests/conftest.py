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
