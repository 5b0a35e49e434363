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
