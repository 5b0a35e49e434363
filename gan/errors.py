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


class ImageNotRead(ValueError):
    """An image file the user chose that cannot be used: `path` does not exist (`missing`) or
    cannot be decoded as an image. The command line words it as a flag and exits with 2."""

    def __init__(self, path: Path, missing: bool):
        self.path, self.missing = path, missing
        super().__init__(f"{printable(str(path))}: "
                         + ("no such file or folder" if missing else "cannot be decoded"))


class NoImages(ValueError):
    """A folder with no image file under it (`folder`); the command line words it."""

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(f"{printable(str(folder))} holds no image files")
