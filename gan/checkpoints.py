"""Checkpoints of a run: complete training state, written so that a crash never leaves a
half-written one in use.

    checkpoints/
        index.json               {"latest": "epoch_0012", "kept": ["epoch_0010"],
                                  "best": "epoch_0010", "best_kd": 0.0321}
        epoch_0010/              a kept one (every --save_every epochs, the final one, any stop)
            ckpt.index, ckpt.data-00000-of-00001   tf.train.Checkpoint: G, D, optimizers, noise RNG
            state.json           epoch, step, controller state, seconds trained
        epoch_0012/              the latest, replaced about every 2,000 images and at stops
        epoch_0012_plus_0004_batches/   12 epochs and 4 batches done: a stop in epoch 13
                                        (Ctrl-C, --max_minutes); names sort in training order

Each checkpoint is written into a temporary folder, flushed, and renamed into place; only
then does index.json (also replaced atomically) point at it, and only then is the previous
latest deleted, unless it is kept.

Checkpoints are found by the names index.json gives, so folders of older versions
(epoch_0013_batch_0004 for the same state) still load. A damaged index.json is rebuilt from
the checkpoint folders (newest by the step in state.json); a damaged checkpoint is skipped
for the newest readable one where the latest is asked for, and is a CorruptFile otherwise.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from gan.errors import (CheckpointMismatch, CheckpointNotFound, CorruptFile, UsageError,
                        printable)
from gan.files import read_json

INDEX = "index.json"
PREFIX = "ckpt"
_WARNED: set[Path] = set()  # damaged index.json files already reported in this process


def checkpoint_name(epoch: int, batch: int) -> str:
    """Name for the state after `epoch` full epochs and `batch` batches of the next one."""
    return f"epoch_{epoch:04d}" if batch == 0 else \
        f"epoch_{epoch:04d}_plus_{batch:04d}_batches"


class CheckpointStore:
    """Saves and restores `tf.train.Checkpoint(**trackables)` plus a JSON state dict."""

    def __init__(self, folder: Path, **trackables):
        self.folder = folder
        self._trackables = trackables
        self._checkpoint = None

    @property
    def checkpoint(self):
        # Made on first use, so resolving a name (and its errors) needs no TensorFlow.
        if self._checkpoint is None:
            import tensorflow as tf
            self._checkpoint = tf.train.Checkpoint(**self._trackables)
        return self._checkpoint

    # -- index ---------------------------------------------------------------------------
    def index(self) -> dict:
        """{"latest": name or None, "kept": [names], "best": name or None[, "best_kd": x]};
        rebuilt from the checkpoint folders, with a warning, when index.json is damaged."""
        path = self.folder / INDEX
        if not path.exists():
            return {"latest": None, "kept": [], "best": None}
        try:
            index = {"kept": [], "best": None, **read_json(path, "")}
            if not (isinstance(index.get("latest"), (str, type(None)))
                    and isinstance(index["kept"], list)):
                raise CorruptFile(path, "")
            return index
        except CorruptFile:
            names = self.readable()
            if path not in _WARNED:  # once, however often (and by whom) it is read
                _WARNED.add(path)
                print(f"warning: {printable(str(path))} is damaged; using the checkpoint "
                      f"folders instead (latest: {names[0] if names else 'none'})",
                      file=sys.stderr)
            # All kept: which were kept is unknown, and deleting one could lose work.
            return {"latest": names[0] if names else None, "kept": names, "best": None}

    def readable(self) -> list[str]:
        """Names of the checkpoint folders whose files are all present and whose state.json
        reads, newest (most batches trained) first."""
        steps = {}
        for folder in self.folder.glob("epoch_*"):
            try:
                state = read_json(folder / "state.json", "")
                steps[folder.name] = int(state.get("progress", {}).get("step", -1))
            except (OSError, UsageError, AttributeError, TypeError, ValueError):
                continue
            if not _complete(folder):
                del steps[folder.name]
        return sorted(steps, key=lambda name: (steps[name], name), reverse=True)

    def _write_index(self, index: dict) -> None:
        _write_atomically(self.folder / INDEX, json.dumps(index, indent=2) + "\n")

    # -- save / restore ------------------------------------------------------------------
    def save(self, name: str, state: dict, keep: bool = False) -> Path:
        """Write checkpoint `name` and make it the latest; returns its folder.

        Raises OSError with a one-line message when it cannot be written (disk full,
        read-only folder); the previous latest checkpoint is then left as it was.
        """
        import tensorflow as tf

        self.folder.mkdir(parents=True, exist_ok=True)
        index = self.index()
        target = self.folder / name
        tmp = self.folder / f".tmp-{name}"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            self.checkpoint.write(str(tmp / PREFIX))
            _write_atomically(tmp / "state.json", json.dumps(state, indent=2) + "\n")
            for f in tmp.iterdir():
                _fsync(f)
        except (OSError, tf.errors.OpError) as error:
            shutil.rmtree(tmp, ignore_errors=True)  # give back the space it took
            reason = getattr(error, "strerror", None) or getattr(error, "message", None) \
                or str(error)
            kept = f"the latest complete one, {index['latest']}, is intact" \
                if index["latest"] else "no earlier checkpoint exists"
            raise OSError(f"could not write checkpoint {target} ({_plain(reason)}); "
                          f"{kept}; free disk space and resume") from None
        if target.exists():  # the same state saved again, e.g. a stop right after a resume
            shutil.rmtree(target)
        os.replace(tmp, target)
        _fsync(self.folder)
        previous = index["latest"]
        index["latest"] = name
        if keep and name not in index["kept"]:
            index["kept"].append(name)
        self._write_index(index)
        if previous and previous != name and previous not in index["kept"] \
                and previous != index.get("best"):
            shutil.rmtree(self.folder / previous, ignore_errors=True)
        return target

    def mark_best(self, name: str, kd: float) -> None:
        """Record checkpoint `name` as the best (lowest KD); the previous best is deleted
        unless it is kept or the latest."""
        index = self.index()
        previous = index.get("best")
        index["best"], index["best_kd"] = name, kd
        self._write_index(index)
        if previous and previous not in (name, index["latest"]) and previous not in index["kept"]:
            shutil.rmtree(self.folder / previous, ignore_errors=True)

    def resolve(self, which: str) -> Path:
        """Folder of checkpoint `which`: "latest", "best", a name in this run, or a path.

        Raises CheckpointNotFound when it does not exist.
        """
        index = self.index()
        if which == "latest" and not _complete(self.folder / str(index["latest"])):
            index["latest"] = next(iter(self.readable()), None)  # restore_latest warns
        if which in ("latest", "best"):
            name = index.get(which)
            if name is None:
                raise CheckpointNotFound(which, self.folder, [])
            folder = self.folder / name
        else:
            folder = Path(which) if Path(which).is_dir() else self.folder / which
        if not (folder / f"{PREFIX}.index").exists():
            raise CheckpointNotFound(which, self.folder, sorted(
                p.name for p in self.folder.glob("epoch_*") if _complete(p)))
        return folder

    def restore_latest(self, partial: bool = False) -> tuple[Path, dict]:
        """Restore the latest checkpoint; if it is missing or damaged, warn and use the newest
        one that can be read. Returns its folder and state dict. Raises UsageError when none
        can be read, or the latest was written by a newer version (older ones would lose
        work)."""
        index = self.index()
        tried = []
        for name in dict.fromkeys(n for n in [index["latest"], *self.readable()] if n):
            try:
                state = self.restore(self.folder / name, partial)
            except CorruptFile as error:
                tried.append((name, error.args[0].split(";")[0]))
                continue
            for _, damaged in tried:  # only when another could be read: else one error line
                print(f"warning: {damaged}; using an older checkpoint", file=sys.stderr)
            if name != index["latest"]:
                print(f"warning: using checkpoint {name} instead of {index['latest']}",
                      file=sys.stderr)
            return self.folder / name, state
        found = f"{', '.join(n for n, _ in tried)} could not be loaded" if tried else \
            "it holds none"
        raise UsageError(f"no readable checkpoint in {printable(str(self.folder))} ({found}); "
                         "restore them from a copy, or train from scratch as a new run")

    def restore(self, folder: Path, partial: bool = False) -> dict:
        """Load the checkpoint in `folder` into the trackables; returns its state dict.

        With `partial`, what the checkpoint holds beyond this store's trackables (e.g. D
        when only G is loaded) is ignored; every trackable of the store must be in it.
        Raises CorruptFile when a file of it is missing or damaged (the trackables may then
        hold part of it: restore another before using them), UsageError when it holds other
        networks or a newer version wrote it.
        """
        from gan.config import check_format

        remedy = ("choose another checkpoint with --checkpoint (see --checkpoint's list) or "
                  "restore the folder from a copy")
        state = read_json(folder / "state.json", remedy)
        check_format(state.get("format_version", 1), folder)
        if not _complete(folder):
            raise CorruptFile(folder / f"{PREFIX}.index", remedy)
        try:
            with _unglobbed(folder) as prefix:
                status = self.checkpoint.read(prefix)
                status.assert_existing_objects_matched()
        except AssertionError:
            raise CheckpointMismatch(folder) from None
        except Exception:  # noqa: BLE001 - TensorFlow raises many types for a damaged file
            raise CorruptFile(folder / f"{PREFIX}.{{index,data-00000-of-00001}}", remedy
                              ) from None
        if partial:
            status.expect_partial()
        return state


def _complete(folder: Path) -> bool:
    """Whether `folder` holds a checkpoint's files: its state, index and a data shard."""
    return (folder / "state.json").is_file() and (folder / f"{PREFIX}.index").is_file() \
        and any(folder.glob(f"{PREFIX}.data-*"))


@contextlib.contextmanager
def _unglobbed(folder: Path):
    """The checkpoint prefix of `folder` as TensorFlow's reader can open it: the reader
    matches the prefix as a glob pattern, so a folder named with [ ] * ? is reached through a
    symbolic link in a temporary folder instead."""
    if not any(c in str(folder) for c in "[]*?"):
        yield str(folder / PREFIX)
        return
    with tempfile.TemporaryDirectory(prefix="gan-checkpoint-") as tmp:
        link = Path(tmp) / "checkpoint"
        link.symlink_to(folder.resolve(), target_is_directory=True)
        yield str(link / PREFIX)


def _plain(message: str) -> str:
    """The first line of an error message without TensorFlow's wrappers: '{{function_node
    __wrapped__SaveV2...}} /path/...tempstate...; No space left on device [Op:SaveV2]' ->
    '/path/...tempstate...; No space left on device'."""
    line = message.splitlines()[0] if message else ""
    return re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]$", "", line)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
