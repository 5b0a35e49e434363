"""The exception types the command line turns into a one-line message and exit status 2."""
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
