"""Run folders: numbered names, finding the latest run, and the layout inside one.

    <runs_dir>/00003-faces/
        config.json      every hyper-parameter (gan.config.TrainConfig)
        losses.csv       one row per batch
        losses.png       loss curves and decision mix, redrawn every epoch
        samples/         epoch_0001.png ... from a fixed latent batch
        checkpoints/     see gan.checkpoints
        generated/       outputs of --TYPE generate, one numbered folder per call
"""
from __future__ import annotations

import re
from pathlib import Path

from gan.errors import UsageError

_NUMBERED = re.compile(r"^(\d{5})-")


def new_run_dir(runs_dir: Path, name: str | None, data_label: str) -> Path:
    """Create and return a new, empty run folder; never reuses one.

    Without `name` the folder is numbered one past the highest existing number, e.g.
    `00003-faces`. Raises UsageError when `name` already exists.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is None:
        taken = [int(m.group(1)) for p in runs_dir.iterdir() if (m := _NUMBERED.match(p.name))]
        name = f"{max(taken, default=-1) + 1:05d}-{_slug(data_label)}"
    if "/" in name or name in ("", ".", ".."):
        raise UsageError(f"--name {name!r}: give a plain folder name, without '/'")
    run_dir = runs_dir / name
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise UsageError(f"run folder {run_dir} already exists; continue it with "
                         f"--resume {name} or choose another --name") from None
    return run_dir


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def find_run(runs_dir: Path, name: str | None, flag: str = "--run") -> Path:
    """The run folder called `name`, or the latest run (last created) when name is None.

    Raises UsageError when there is no such run, naming what exists.
    """
    runs = [p for p in runs_dir.iterdir() if (p / "config.json").is_file()] \
        if runs_dir.is_dir() else []
    if not runs:
        raise UsageError(f"no training runs in {runs_dir}/; train one first with "
                         "`python train.py --TYPE train`, or point --runs_dir at your runs")
    if name is None:
        return max(runs, key=lambda p: ((p / "config.json").stat().st_mtime_ns, p.name))
    run_dir = runs_dir / name
    if run_dir not in runs:
        known = ", ".join(sorted(p.name for p in runs)[-5:])
        raise UsageError(f"{flag} {name}: no such run in {runs_dir}/ (runs there: {known})")
    return run_dir
