"""Write outputs atomically: into a temporary sibling, renamed into place only on success.

A command that fails half-way leaves the destination exactly as it was (absent, or the previous
complete version), never a half-written file.  Outputs get the usual permissions (0666 / 0777
less the umask), not the private ones of temporary files.  Paths that cannot be written become
one-line :class:`GenolmError`s, before any work is done where that can be known.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_file(d / "x.txt") as tmp:
...     _ = tmp.write_text("done")
>>> (d / "x.txt").read_text()
'done'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from genolm.errors import GenolmError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _parent(path: Path) -> None:
    """Create the parent folder, or explain why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise GenolmError("cannot write here: a parent of the output path is a file", file=path,
                          hint="choose another output path") from None
    except PermissionError:
        raise GenolmError("cannot write here: permission denied", file=path.parent) from None


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise GenolmError("output path is a directory", file=path, expected="a file name",
                          hint="name a file inside it")
    _parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *,
               replaceable: Callable[[Path], bool] = lambda p: False) -> Iterator[Path]:
    """Yield an empty temporary directory; it replaces ``path`` when the block succeeds.

    An existing ``path`` is replaced only if it is an empty directory or ``replaceable(path)``
    says it is an earlier output of the same kind (never a user's folder or file); it is kept
    untouched until the new one is complete, then swapped out.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GenolmError("output path is an existing file", file=path, expected="a directory",
                          hint="choose a new directory name")
    if path.is_dir() and any(path.iterdir()) and not replaceable(path):
        raise GenolmError("output directory exists and was not written by this command", file=path,
                          hint="choose a new directory, or empty this one yourself")
    _parent(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the usual permissions for everything inside too: some writers (safetensors) make private files
    mask = _umask()
    for root, dirs, files in os.walk(tmp):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)
    os.chmod(tmp, 0o777 & ~mask)
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def json_safe(x):
    """``x`` with every NaN or infinite float (numpy's too) as None, recursively: strict JSON
    (``json.dumps(..., allow_nan=False)``) has neither.

    >>> json_safe({"auroc": float("nan"), "n": [1, 2.5, float("inf")]})
    {'auroc': None, 'n': [1, 2.5, None]}
    """
    import math

    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):  # numpy floats are floats too
        return None
    return x
