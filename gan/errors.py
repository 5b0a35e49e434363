"""Typed errors of the library; the command line (gan/cli.py) turns each into one line and
exit status 2."""
from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad input from the user: a wrong flag value, a missing folder, an unknown run.

    The message says what is wrong and what to do; `gan.cli.main` prints it on one line to
    stderr and exits with status 2, without a traceback.
    """


class CorruptFile(UsageError):
    """A file this tool wrote cannot be read back (truncated, empty or garbage: a crash, a
    full disk, a bad copy). `path` is the file; the message names it and what to do."""

    def __init__(self, path: Path, remedy: str):
        self.path = path
        super().__init__(f"{printable(str(path))} is damaged (truncated, empty or not what this "
                         f"tool wrote); {remedy}")


class BadImageFolder(UsageError):
    """A folder of images that cannot be used: missing, not a folder, unreadable, or without
    an image this tool decodes. `folder` is it; `problem` says what is wrong and what to do,
    naming no flag: the command line prefixes the flag that gave the folder."""

    def __init__(self, folder: Path, problem: str):
        self.folder, self.problem = folder, problem
        super().__init__(f"{folder}: {problem}")


class ImageNotRead(UsageError):
    """An image file the user chose one by one that cannot be used: `path` does not exist
    (`missing`) or cannot be decoded as an image. Names no flag: the command line adds it."""

    def __init__(self, path: Path, missing: bool):
        self.path, self.missing = path, missing
        super().__init__(f"{path}: " + ("no such file or folder" if missing else
                                        "cannot be decoded as an image"))


class LooseImages(UsageError):
    """A class-conditional set's `folder` holds `count` images directly, outside any class
    subfolder; `example` is the name of one."""

    def __init__(self, folder: Path, count: int, example: str):
        self.folder, self.count, self.example = folder, count, example
        super().__init__(f"{count} images lie directly in {folder} (e.g. {example}); put each "
                         "image in a subfolder named by its class")


class TooFewClasses(UsageError):
    """A class-conditional set's `folder` has `found` class subfolders holding images, fewer
    than two."""

    def __init__(self, folder: Path, found: int):
        self.folder, self.found = folder, found
        super().__init__(f"{folder} has {found} class subfolders with images; a class-"
                         "conditional GAN needs at least two")


def printable(text: str) -> str:
    """`text` safe to print whatever bytes a file name held (undecodable ones become \\xNN)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def counted(count: int, noun: str, plural: str = "") -> str:
    """"1 epoch", "2 epochs", "0 batches": `count` and `noun`, or its `plural` (default: noun
    + "s") unless count is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


class TooFewImages(ValueError):
    """An image set too small, or too uniform, for a metric.

    role: which set, "real" (the reference) or "fake" (generated samples); count: images it
    holds; needed: the least count the metric takes; why: the reason, in words; distinct: True
    when each image of the set has an identical copy in it (the count is enough, the spread is
    0). The command line words it as a flag and exits with 2.
    """

    def __init__(self, role: str, count: int, needed: int, why: str, distinct: bool = False):
        self.role, self.count, self.needed, self.why, self.distinct = (role, count, needed, why,
                                                                       distinct)
        super().__init__(f"each of the {count} {role} images has an identical copy: {why}"
                         if distinct else
                         f"the {role} set has {count} images, needs at least {needed}: {why}")


# -- run folders and checkpoints: the facts; gan/cli.py words them as flags and commands ----
class RunsDirUnwritable(UsageError):
    """`runs_dir` (or a new run folder in it, with `in_it`) cannot be created: `reason`."""

    def __init__(self, runs_dir: Path, reason: str, in_it: bool):
        self.runs_dir, self.reason, self.in_it = runs_dir, reason, in_it
        super().__init__(f"{runs_dir}: cannot create {'a run folder there' if in_it else 'it'} "
                         f"({reason})")


class BadRunName(UsageError):
    """`name` is not a plain folder name."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"run name {name!r}: give a plain folder name, without '/'")


class RunExists(UsageError):
    """A new run was to be called `name`, and `runs_dir` already holds it."""

    def __init__(self, runs_dir: Path, name: str):
        self.runs_dir, self.name = runs_dir, name
        super().__init__(f"run folder {runs_dir / name} already exists")


class RunNotFound(UsageError):
    """No run `name` in `runs_dir` (`name` None: no run at all); `known`: the runs there,
    sorted by name."""

    def __init__(self, runs_dir: Path, name: str | None, known: list[str]):
        self.runs_dir, self.name, self.known = runs_dir, name, known
        super().__init__(f"no training runs in {runs_dir}/" if name is None else
                         f"{name}: no such run in {runs_dir}/ (runs there: {self.listed()})")

    def listed(self) -> str:
        """The five newest names and how many more: 'a, b and 3 older'."""
        return ", ".join(self.known[-5:]) + (f" and {len(self.known) - 5} older"
                                             if len(self.known) > 5 else "")


class RunInUse(UsageError):
    """Process `pid` holds the lock of run folder `folder`."""

    def __init__(self, folder: Path, pid: int):
        self.folder, self.pid = folder, pid
        super().__init__(f"run {folder} is in use by process {pid}; wait for it to finish or "
                         "stop it first")


class CheckpointNotFound(UsageError):
    """Checkpoint `which` ("latest", "best", a name or a folder) is not in `folder`;
    `available`: the complete checkpoints there."""

    def __init__(self, which: str, folder: Path, available: list[str]):
        self.which, self.folder, self.available = which, folder, available
        super().__init__(
            f"checkpoint {which}: none in {folder}; this run has no scored checkpoint yet"
            if which == "best" else
            f"checkpoint {which}: none in {folder}; it was stopped before its first checkpoint"
            if which == "latest" else
            f"checkpoint {which}: no checkpoint there (this run has: "
            f"{', '.join(available) or 'none'})")


class CheckpointMismatch(UsageError):
    """The checkpoint in `folder` holds other networks than the run's config describes."""

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(f"checkpoint {printable(str(folder))} could not be loaded: it holds "
                         "other networks than this run's config.json describes")


class UnknownLabel(UsageError):
    """`label` (a class name or index) is not one of `classes` ([]: an unconditional run)."""

    def __init__(self, label, classes: list[str]):
        self.label, self.classes = label, classes
        super().__init__("this run was not trained with class labels" if not classes else
                         f"class {label}: not a class of this run; its classes are "
                         f"{', '.join(classes)}")


class OutputExists(UsageError):
    """An output folder `path` exists and is not empty: writing there could overwrite."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{path} exists and is not an empty folder")
