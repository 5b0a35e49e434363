"""The one exception type the command line turns into a one-line message and exit status 2."""


class UsageError(Exception):
    """Bad input from the user: a wrong flag value, a missing folder, an unknown run.

    The message says what is wrong and what to do; `gan.cli.main` prints it on one line to
    stderr and exits with status 2, without a traceback.
    """


def printable(text: str) -> str:
    """`text` safe to print whatever bytes a file name held (undecodable ones become \\xNN)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
