"""Run folders: numbered names, finding the latest run, and the layout inside one.

    <runs_dir>/00003-faces/
        config.json      every hyper-parameter (gan.config.TrainConfig)
        losses.csv       one row per batch
        losses.png       loss curves and decision mix, redrawn every 30 s and at the end
        samples/         epoch_0001.png ... from a fixed latent batch
        checkpoints/     see gan.checkpoints
        generated/       outputs of --TYPE generate, one numbered folder per call
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from gan.errors import CorruptFile, UsageError

_NUMBERED = re.compile(r"^(\d{5})-")


def new_run_dir(runs_dir: Path, name: str | None, data_label: str) -> Path:
    """Create and return a new, empty run folder; never reuses one.

    Without `name` the folder is numbered one past the highest existing number, e.g.
    `00003-faces`. Raises UsageError when `name` already exists.
    """
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--runs_dir {runs_dir}: cannot create it ({error.strerror}); choose "
                         "a writable folder with --runs_dir") from None
    if name is None:
        taken = [int(m.group(1)) for p in runs_dir.iterdir() if (m := _NUMBERED.match(p.name))]
        name = f"{max(taken, default=-1) + 1:05d}-{_slug(data_label)}"
    check_new_name(runs_dir, name)
    run_dir = runs_dir / name
    try:
        run_dir.mkdir()
    except FileExistsError:  # created since the check
        check_new_name(runs_dir, name)
    except OSError as error:  # read-only or full
        raise UsageError(f"--runs_dir {runs_dir}: cannot create a run folder there "
                         f"({error.strerror}); choose a writable folder with --runs_dir"
                         ) from None
    return run_dir


def check_new_name(runs_dir: Path, name: str) -> None:
    """UsageError unless `name` is a plain folder name not yet used in `runs_dir`."""
    if "/" in name or name in ("", ".", ".."):
        raise UsageError(f"--name {name!r}: give a plain folder name, without '/'")
    if (runs_dir / name).exists():
        raise UsageError(f"run folder {runs_dir / name} already exists; continue it with "
                         f"--resume {shlex.quote(name)} or choose another --name")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def find_run(runs_dir: Path, name: str | None, flag: str = "--run") -> Path:
    """The run folder called `name`, or the latest run (last created) when name is None.

    Raises UsageError when there is no such run, naming what exists.
    """
    runs = [p for p in runs_dir.iterdir() if (p / "config.json").is_file()] \
        if runs_dir.is_dir() else []
    if not runs:
        raise UsageError(f"no training runs in {runs_dir}/; train one first (--TYPE train), "
                         "or point --runs_dir at your runs")
    if name is None:
        return max(runs, key=lambda p: ((p / "config.json").stat().st_mtime_ns, p.name))
    run_dir = runs_dir / name
    if run_dir not in runs:
        names = sorted(p.name for p in runs)
        known = ", ".join(names[-5:]) + (f" and {len(names) - 5} older" if len(names) > 5 else "")
        raise UsageError(f"{flag} {name}: no such run in {runs_dir}/ (runs there: {known})")
    return run_dir


class RunLock:
    """`<run>/lock` holding the owner's PID, so two processes never write one run folder.

    A lock left by a process that no longer exists is taken over. Raises UsageError when a
    live process holds it.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / "lock"

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = _read_pid(self.path)
                if owner is not None and _alive(owner):
                    raise UsageError(f"run {self.path.parent} is in use by process {owner}; "
                                     "wait for it to finish or stop it first") from None
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


CLASSES_FILE = "classes.json"


def save_classes(run_dir: Path, classes: list[str]) -> None:
    """Record a conditional run's class names (label k is classes[k]) in its folder."""
    (run_dir / CLASSES_FILE).write_text(json.dumps({"classes": classes}, indent=2) + "\n")


def load_classes(run_dir: Path) -> list[str]:
    """The class names of a conditional run; [] for an unconditional one. Raises CorruptFile
    when classes.json is damaged."""
    from gan.files import read_json

    path = run_dir / CLASSES_FILE
    if not path.exists():
        return []
    classes = read_json(path, "restore it from a copy: it lists the class subfolders of "
                              "--path, sorted, as {\"classes\": [...]}").get("classes")
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise CorruptFile(path, "restore it from a copy")
    return classes
