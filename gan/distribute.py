"""Choosing a tf.distribute strategy: one device, several GPUs, or several machines.

    auto         multiworker when TF_CONFIG is set, mirrored when more than one GPU is
                 visible, otherwise none
    none         the default single-device strategy (a laptop)
    mirrored     MirroredStrategy over all visible GPUs (or the given devices)
    multiworker  MultiWorkerMirroredStrategy, configured by TF_CONFIG

Under multiworker only the chief writes the run folder (TensorFlow's multi-worker pattern,
tensorflow.org/tutorials/distribute/multi_worker_with_keras): every worker still saves each
checkpoint, a collective operation, but the other workers write into a temporary folder of
their own that is deleted when training ends (`write_dir`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gan.errors import UsageError

STRATEGIES = ("auto", "none", "mirrored", "multiworker")


def resolve(name: str) -> str:
    """"auto" -> the strategy name for this machine and environment."""
    if name != "auto":
        return name
    if os.environ.get("TF_CONFIG"):
        return "multiworker"
    import tensorflow as tf

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


@dataclass(frozen=True)
class Worker:
    """This process's place among the processes that train one run together."""
    name: str = "worker 0"  # its TF_CONFIG task, e.g. "worker 1"
    count: int = 1          # processes in the cluster (chief and workers)
    is_chief: bool = True   # the one that writes the run folder


def worker(strategy: str) -> Worker:
    """This process's place under --distribute `strategy`: from TF_CONFIG under
    multiworker, else a lone chief. The chief is the "chief" task, or worker 0 when the
    cluster has none, as MultiWorkerMirroredStrategy itself decides."""
    if not os.environ.get("TF_CONFIG") or resolve(strategy) != "multiworker":
        return Worker()  # without TF_CONFIG, MultiWorkerMirroredStrategy has one worker
    # Read as TFConfigClusterResolver does, without importing TensorFlow: a usage error
    # found before training stays one line, free of TensorFlow's start-up log.
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
        task_type, task_id = task.get("type"), int(task.get("index", 0))
    except (ValueError, AttributeError) as error:
        raise UsageError(f"TF_CONFIG is not a cluster description ({error}); set it as "
                         "TensorFlow's multi-worker guide shows, or unset it") from None
    count = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    is_chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                                and "chief" not in cluster)
    return Worker(f"{task_type} {task_id}", count, is_chief)


@contextlib.contextmanager
def write_dir(run_dir: Path, this: Worker):
    """Yields the folder where this worker writes the run's files: `run_dir` on the chief;
    on any other worker a new temporary folder (on its own machine's disk, never beside
    the run), deleted on exit."""
    if this.is_chief:
        yield run_dir
        return
    folder = Path(tempfile.mkdtemp(prefix=f"gan-{this.name.replace(' ', '')}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
