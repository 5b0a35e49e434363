"""benchmarks/peer_dcgan.py, the peer that benchmarks/time_to_quality.py races as `peer`."""
import argparse
import json
import sys
import types

import cv2
import keras
import numpy as np
import pytest

from conftest import ROOT
from gan.config import TrainConfig
from gan.model import GAN

sys.path.insert(0, str(ROOT / "benchmarks"))
peer = pytest.importorskip("peer_dcgan")
ttq = pytest.importorskip("time_to_quality")


def test_peer_networks_are_the_pytorch_examples():
    g, d = peer.build_generator(), peer.build_discriminator()
    images = g(np.zeros((2, 100), np.float32), training=False)
    assert images.shape == (2, 64, 64, 3)
    assert d(images).shape == (2, 1)
    convs = [layer.filters for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [64, 128, 256, 512, 1]
    norms = [layer for layer in d.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3  # none after the first convolution


@pytest.mark.parametrize("step", [0, 10, 1000, 100_000])
def test_peer_ema_follows_the_products_ramped_rule(step):
    product = types.SimpleNamespace(config=TrainConfig(batch_size=64, ema_kimg=10))
    assert peer.ema_beta(step) == pytest.approx(GAN.ema_beta(product, step))


def test_time_to_quality_reads_a_peer_run(tmp_path):
    peer.build_generator().save(tmp_path / peer.GENERATOR)
    (tmp_path / peer.PROGRESS).write_text(json.dumps(
        {"steps": 7, "epochs": 1, "train_minutes": 0.3}))
    mix = ttq.decision_mix(tmp_path)
    assert (mix["steps"], mix["share_both"], mix["share_g_only"]) == (7, 1.0, 0.0)
    pictures = ttq.generator(tmp_path).generate(range(3))
    assert pictures.shape == (3, 64, 64, 3) and pictures.dtype == np.uint8


def test_time_to_quality_scores_gray_held_out_images_in_rgb(tmp_path):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 40), 60 * i, np.uint8))
    parser = argparse.ArgumentParser()
    ttq.add_arguments(parser, minutes=1, seeds=[0], out=str(tmp_path / "out"))
    args = parser.parse_args(["--held_out", str(tmp_path), "--img_size", "32"])
    held_out = ttq.held_out_images(args)
    assert held_out.shape == (2, 32, 32, 3) and held_out.dtype == np.uint8
    assert sorted(np.unique(held_out)) == [0, 60]


def test_time_to_quality_picks_the_kept_checkpoint_nearest_the_minutes(tmp_path):
    folder = tmp_path / "checkpoints"
    for name, step, seconds in (("epoch_0050", 600, 70.0), ("epoch_0100", 1200, 150.0),
                                ("epoch_0150", 1800, 230.0)):
        (folder / name).mkdir(parents=True)
        (folder / name / "state.json").write_text(json.dumps(
            {"progress": {"epoch": 0, "batch": 0, "step": step, "seconds": seconds}}))
    (folder / "index.json").write_text(json.dumps(
        {"latest": "epoch_0150", "kept": ["epoch_0050", "epoch_0100"], "best": None}))
    assert ttq.kept_checkpoint_near(tmp_path, 2) == ("epoch_0100",
                                                     {"steps": 1200, "train_minutes": 2.5})
    assert ttq.kept_checkpoint_near(tmp_path, 0.5)[0] == "epoch_0050"
    assert ttq.kept_checkpoint_near(tmp_path, 10)[0] == "epoch_0100"  # only kept ones count
