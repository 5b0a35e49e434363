"""Choosing a tf.distribute strategy: one device, several GPUs, or several machines.

    auto         multiworker when TF_CONFIG is set, mirrored when more than one GPU is
                 visible, otherwise none
    none         the default single-device strategy (a laptop)
    mirrored     MirroredStrategy over all visible GPUs (or the given devices)
    multiworker  MultiWorkerMirroredStrategy, configured by TF_CONFIG
"""
from __future__ import annotations

import os

STRATEGIES = ("auto", "none", "mirrored", "multiworker")


def resolve(name: str) -> str:
    """"auto" -> the strategy name for this machine and environment."""
    if name != "auto":
        return name
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return "multiworker"
    return "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"


def make_strategy(name: str, devices: list[str] | None = None):
    """The tf.distribute.Strategy called `name` (see the module docstring)."""
    import tensorflow as tf

    name = resolve(name)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()
