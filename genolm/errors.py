"""The one error type for bad input, shared by every layer.

Every layer raises :class:`GenolmError` for input a user can fix (a malformed file, a bad flag, a
character outside the alphabet).  The message names the file, the line, the record, what was
expected and what was found, and ends with a hint; the CLI prints it on one line and exits 2.

>>> str(GenolmError("quality length differs from sequence length", file="r.fq", line=4,
...                 record="read7", expected="4 qualities", found="3", hint="is the file truncated?"))
"r.fq:4: record 'read7': quality length differs from sequence length (expected 4 qualities, found 3); hint: is the file truncated?"
"""

from __future__ import annotations

import os


class GenolmError(Exception):
    """Bad input, described well enough to fix it without reading a traceback."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike | None = None,
        line: int | None = None,
        record: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.line = line
        self.record = record
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(str(self))

    def with_context(self, **kw) -> "GenolmError":
        """Return a copy with missing fields filled in (e.g. the file, known only by the caller)."""
        fields = dict(file=self.file, line=self.line, record=self.record, expected=self.expected,
                      found=self.found, hint=self.hint)
        for key, value in kw.items():
            if fields.get(key) is None:
                fields[key] = value
        return GenolmError(self.message, **fields)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        rec = f"record {self.record!r}: " if self.record is not None else ""
        detail = []
        if self.expected is not None:
            detail.append(f"expected {self.expected}")
        if self.found is not None:
            detail.append(f"found {self.found}")
        text = where + rec + self.message
        if detail:
            text += " (" + ", ".join(detail) + ")"
        if self.hint:
            text += "; hint: " + self.hint
        # One line, always: the CLI prints this as-is.
        return " ".join(text.split("\n"))

    def __reduce__(self):  # picklable across worker processes
        return (_rebuild, (self.message, self.file, self.line, self.record, self.expected,
                           self.found, self.hint))


def _rebuild(message, file, line, record, expected, found, hint):
    return GenolmError(message, file=file, line=line, record=record, expected=expected,
                       found=found, hint=hint)


def show(text: str | bytes, limit: int = 40) -> str:
    """A short, printable rendering of found text for error messages."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = repr(text[:limit] + ("…" if len(text) > limit else ""))
    return text
