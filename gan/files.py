"""Reading back the small files a run writes (JSON, JSON lines), so that a truncated, empty
or garbage file becomes a CorruptFile naming it, never a traceback or a half-read value."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from gan.errors import CorruptFile, printable


def read_json(path: Path, remedy: str) -> dict:
    """The JSON object in `path`. Raises CorruptFile (with `remedy`, what the user should do)
    when it is not a complete JSON object, and OSError when it cannot be read."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
        raise CorruptFile(path, remedy) from None
    if not isinstance(value, dict):
        raise CorruptFile(path, remedy)
    return value


def read_json_lines(path: Path) -> list[dict]:
    """The JSON objects of `path`, one a line ([] when it does not exist); damaged lines (a
    crash cuts the last one) are left out with one warning that counts them."""
    if not path.exists():
        return []
    rows, damaged = [], 0
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            row = None
        if isinstance(row, dict):
            rows.append(row)
        elif line.strip():
            damaged += 1
    if damaged:
        print(f"warning: {printable(str(path))}: {damaged} damaged lines left out",
              file=sys.stderr)
    return rows


def append_json_line(path: Path, row: dict) -> None:
    """Append `row` to the JSON-lines file `path` as one line, starting a new line first when
    a crash left the last one unfinished (so that only that one stays damaged)."""
    with open(path, "a+b") as f:
        end = f.seek(0, 2)
        unfinished = end and (f.seek(end - 1), f.read(1))[1] != b"\n"
        f.write((("\n" if unfinished else "") + json.dumps(row) + "\n").encode("utf-8"))
