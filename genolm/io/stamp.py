"""What made an output: every command leaves ``genolm.json`` in the folder it writes, so that a
reader (``genolm report``, a user, a script) need not guess from file names.

``{"command": "env fit", "version": "0.1.0", "written": "2026-12-07T10:31:00+00:00",
"args": {...}}`` — the command as typed after ``genolm``, the package version, when, and every
option's value (paths as given).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_stamp(d, "bin", {"inputs": ["reads.fa"], "seed": 0})
>>> read_stamp(d)["command"], read_stamp(d)["args"]["seed"]
('bin', 0)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from genolm import __version__

STAMP = "genolm.json"


def write_stamp(folder: str | os.PathLike, command: str, args: dict) -> Path:
    """Write ``folder/genolm.json`` (atomically) for ``command`` run with ``args``."""
    from genolm.io.atomic import atomic_file, json_safe

    path = Path(folder) / STAMP
    record = {"command": command, "version": __version__,
              "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "args": json_safe({k: _plain(v) for k, v in args.items()})}
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return path


def read_stamp(folder: str | os.PathLike) -> dict | None:
    """The stamp of ``folder``, or None when there is none (or it is not a stamp)."""
    path = Path(folder) / STAMP
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("command"), str) else None


def _plain(v):
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
