"""Run folders: numbered names, finding the latest run, and the layout inside one.

    <runs_dir>/00003-faces/
        config.json        every hyper-parameter (gan.config.TrainConfig)
        classes.json       a conditional run's class names
        skipped_files.txt  files of --path that could not be read
        losses.csv         one row per batch (gan.losslog)
        losses.png         loss curves and decision mix, redrawn every 30 s and at the end
        health.jsonl       one health row per sample grid (gan.health)
        metrics.jsonl      evaluations (gan.evaluate)
        samples/           epoch_0001.png ... from a fixed latent batch
        timelapse.gif      the sample grids in order
        checkpoints/       see gan.checkpoints
        generated/, exported/, ...   outputs, one numbered folder per call
        events.out.tfevents.*        TensorBoard
        lock               the PID of the process training it

`Run` owns this layout: nothing else spells these names.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from gan.errors import (BadRunName, CorruptFile, RunExists, RunInUse, RunNotFound,
                        RunsDirUnwritable, UsageError)

_NUMBERED = re.compile(r"^(\d{5})-")


class Run:
    """One run folder: the paths of its files, and its creation, lookup and locking.

    `Run(folder)` names an existing (or temporary) folder; `Run.create` makes a new one and
    `Run.find` looks one up. A worker of a multi-worker run other than the chief writes its
    files into a temporary folder with the same layout (gan.distribute.write_dir).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.name = self.folder.name
        self.config_file = self.folder / "config.json"
        self.classes_file = self.folder / "classes.json"
        self.skipped_list = self.folder / "skipped_files.txt"
        self.losses_csv = self.folder / "losses.csv"
        self.losses_png = self.folder / "losses.png"
        self.health_log = self.folder / "health.jsonl"
        self.metrics_log = self.folder / "metrics.jsonl"
        self.samples = self.folder / "samples"
        self.timelapse = self.folder / "timelapse.gif"
        self.checkpoints = self.folder / "checkpoints"
        self.lock_file = self.folder / "lock"

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"

    def sample_grid(self, name: str) -> Path:
        """samples/<name>.png: the grid of checkpoint `name` (or epoch_0000)."""
        return self.samples / f"{name}.png"

    def sample_grids(self) -> list[Path]:
        """The epoch_NNNN.png grids, in training order."""
        return sorted(self.samples.glob("epoch_*.png"))

    def output_dir(self, kind: str = "generated") -> Path:
        """A new numbered folder `<run>/<kind>/<k>/`; never one that exists."""
        parent = self.folder / kind
        parent.mkdir(exist_ok=True)
        taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
        return parent / f"{max(taken, default=-1) + 1:04d}"

    def load_config(self):
        """The run's TrainConfig; UsageError when the folder is not a run, CorruptFile when
        its config.json is damaged."""
        from gan.config import TrainConfig
        if not self.config_file.is_file():
            raise UsageError(f"{self.folder} is not a run folder (it has no config.json)")
        return TrainConfig.load(self.config_file)

    def checkpoint_store(self, **trackables):
        """The run's gan.checkpoints.CheckpointStore, holding `trackables` by name."""
        from gan.checkpoints import CheckpointStore
        return CheckpointStore(self.checkpoints, **trackables)

    def lock(self) -> "RunLock":
        return RunLock(self.lock_file)

    def save_classes(self, classes: list[str]) -> None:
        """Record a conditional run's class names (label k is classes[k])."""
        self.classes_file.write_text(json.dumps({"classes": classes}, indent=2) + "\n")

    def load_classes(self) -> list[str]:
        """The class names of a conditional run; [] for an unconditional one. Raises
        CorruptFile when classes.json is damaged."""
        from gan.files import read_json

        if not self.classes_file.exists():
            return []
        classes = read_json(self.classes_file, "restore it from a copy: it lists the class "
                            "subfolders of --path, sorted, as {\"classes\": [...]}").get("classes")
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise CorruptFile(self.classes_file, "restore it from a copy")
        return classes

    def record_skipped(self, skipped: list[str]) -> None:
        """List the files of --path that training skipped, rewriting the list only when it
        changed (a refused resume leaves the run as it was)."""
        text = "".join(f"{f}\n" for f in skipped)
        if skipped and not (self.skipped_list.exists()
                            and self.skipped_list.read_text(errors="replace") == text):
            self.skipped_list.write_text(text)

    @classmethod
    def create(cls, runs_dir: Path, name: str | None, data_label: str) -> "Run":
        """Create a new, empty run folder; never reuses one.

        Without `name` the folder is numbered one past the highest existing number, e.g.
        `00003-faces`. Raises UsageError when `name` already exists.
        """
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunsDirUnwritable(runs_dir, error.strerror, in_it=False) from None
        if name is None:
            taken = [int(m.group(1)) for p in runs_dir.iterdir()
                     if (m := _NUMBERED.match(p.name))]
            name = f"{max(taken, default=-1) + 1:05d}-{_slug(data_label)}"
        cls.check_new_name(runs_dir, name)
        run = cls(runs_dir / name)
        try:
            run.folder.mkdir()
        except FileExistsError:  # created since the check
            cls.check_new_name(runs_dir, name)
        except OSError as error:  # read-only or full
            raise RunsDirUnwritable(runs_dir, error.strerror, in_it=True) from None
        return run

    @staticmethod
    def check_new_name(runs_dir: Path, name: str) -> None:
        """BadRunName unless `name` is a plain folder name, RunExists when `runs_dir` holds
        it."""
        if "/" in name or name in ("", ".", ".."):
            raise BadRunName(name)
        if (runs_dir / name).exists():
            raise RunExists(runs_dir, name)

    @classmethod
    def find(cls, runs_dir: Path, name: str | None) -> "Run":
        """The run called `name`, or the latest run (last created) when name is None.

        Raises RunNotFound when there is no such run (or none at all), naming what exists.
        """
        runs = [cls(p) for p in runs_dir.iterdir()] if runs_dir.is_dir() else []
        runs = [run for run in runs if run.config_file.is_file()]
        if not runs:
            raise RunNotFound(runs_dir, None, [])
        if name is None:
            return max(runs, key=lambda run: (run.config_file.stat().st_mtime_ns, run.name))
        if name not in [run.name for run in runs]:
            raise RunNotFound(runs_dir, name, sorted(run.name for run in runs))
        return cls(runs_dir / name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


class RunLock:
    """A run's `lock` file, holding the owner's PID, so two processes never write one run
    folder.

    A lock left by a process that no longer exists is taken over. Raises UsageError when a
    live process holds it.
    """

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = _read_pid(self.path)
                if owner is not None and _alive(owner):
                    raise RunInUse(self.path.parent, owner) from None
                self.path.unlink(missing_ok=True)  # stale: its owner is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise UsageError(f"could not lock {self.path}; remove it if no training is running")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def warn_if_low_disk(folder: Path, needed_bytes: int) -> None:
    """One warning when `folder`'s file system has less than `needed_bytes` free."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        print(f"warning: only {free / 2**20:.0f} MB free in {folder}; checkpoints need about "
              f"{needed_bytes / 2**20:.0f} MB, free some space or use another --runs_dir",
              file=sys.stderr)
