"""The one progress helper of every long command: a bar on a terminal, a line every ~30 s otherwise.

A command asks for ``progress(total, desc, unit)`` and calls ``update(n)``; what the user sees
depends on where stderr goes:

- a terminal: a tqdm bar (count, rate, time left);
- a file, a pipe, a CI log: one line every ``GENOLM_PROGRESS_SECONDS`` (default 30) seconds,
  ``genolm embed: 12,288 seq, 410 seq/s`` or ``genolm pretrain: 120/300 steps (40%), …, ~2m10s
  left``, so a long job in a log is never silent for minutes;
- ``enabled=False`` (``--no-progress``, or a rank other than 0): nothing.

Whatever the mode, the object is the same, always truthy, and every method is safe to call: a
caller never tests ``if bar`` (a tqdm bar without a total is *falsy*, which once crashed
``genolm embed`` in every terminal).

>>> import io
>>> out, now = io.StringIO(), [0.0]
>>> p = progress(10, "demo", "seq", stream=out, every=30, clock=lambda: now[0])
>>> p.update(4); now[0] = 31.0; p.update(1)
>>> out.getvalue()
'genolm demo: 5/10 seqs (50%), 0.2 seq/s, ~31s left\\n'
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

EVERY = 30.0  # seconds between lines when stderr is not a terminal


def progress(total: float | None = None, desc: str = "", unit: str = "it", *, enabled: bool = True,
             initial: float = 0, stream: TextIO | None = None, every: float | None = None,
             clock: Callable[[], float] = time.monotonic, unit_scale: bool = False) -> "Progress":
    """A progress display for ``desc`` (a bar on a terminal, timed lines elsewhere, or nothing)."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        mode = "off"
    elif _isatty(stream):
        mode = "bar"
    else:
        mode = "lines"
    if every is None:
        every = float(os.environ.get("GENOLM_PROGRESS_SECONDS", EVERY))
    return Progress(mode, total, desc, unit, initial, stream, every, clock, unit_scale)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


class Progress:
    """See the module docstring; make one with :func:`progress`."""

    def __init__(self, mode: str, total, desc: str, unit: str, initial: float, stream, every: float,
                 clock: Callable[[], float], unit_scale: bool) -> None:
        self.mode, self.total, self.desc, self.unit = mode, total, desc, unit
        self.n, self.stream, self.every, self.clock = initial, stream, every, clock
        self.unit_scale = unit_scale
        self.postfix: dict[str, str] = {}
        self.start_n = initial
        self.t0 = self.last = clock()
        self.lines = 0  # lines written in "lines" mode
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            # miniters=1: redraw whenever 0.1 s have passed; tqdm's default learns how many updates
            # to skip from the first ones, and a job that then slows down can sit still for minutes
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream,
                             dynamic_ncols=True, unit_scale=unit_scale, miniters=1)

    def __bool__(self) -> bool:  # always usable, whatever tqdm thinks of a bar without a total
        return True

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = self.clock()
            if now - self.last >= self.every:
                self.last = now
                self._line(now)

    def set_total(self, total: float | None) -> None:
        """The amount of work once it is known (or re-planned, as a ``--minutes`` run does)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def set_postfix(self, **values) -> None:
        """Short ``key=value`` notes after the count (a loss, a rate); shown on the next draw."""
        self.postfix = {k: str(v) for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def write(self, text: str, file: TextIO | None = None) -> None:
        """A message line (a validation result, a warning) to ``file`` (default: the progress
        stream), printed in every mode, above the bar."""
        file = self.stream if file is None else file
        if self._bar is not None:
            self._bar.write(text, file=file)
        else:
            print(text, file=file, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines" and self.lines:  # the log ends with where the work ended
            self._line(self.clock())
        self.mode = "closed" if self.mode != "off" else "off"

    def _line(self, now: float) -> None:
        self.lines += 1
        self.stream.write(self.status(now) + "\n")
        self.stream.flush()

    def status(self, now: float | None = None) -> str:
        """``genolm DESC: N/TOTAL UNIT (P%), R UNIT/s, ~T left, key value…``"""
        now = self.clock() if now is None else now
        count = _num(self.n, self.unit_scale)
        # the count in words ("120/300 steps"), the rate in tqdm's units ("seq/s")
        unit = self.unit + "s" if self.unit.isalpha() and len(self.unit) > 1 and self.n != 1 else self.unit
        if self.total:
            count += f"/{_num(self.total, self.unit_scale)} {unit} ({100 * self.n / self.total:.0f}%)"
        else:
            count += f" {unit}"
        parts = [count]
        seconds = now - self.t0
        rate = (self.n - self.start_n) / seconds if seconds > 0 else 0.0
        if rate > 0:
            parts.append(f"{_num(rate, self.unit_scale, rate=True)} {self.unit}/s")
            if self.total and self.total > self.n:
                parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return f"genolm {self.desc}: " + ", ".join(parts)


def _num(x: float, scale: bool, rate: bool = False) -> str:
    if scale:
        for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= factor:
                return f"{x / factor:.1f}{suffix}"
    if rate and x < 10:
        return f"{x:.1f}"
    return f"{x:,.0f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and its noun, in the number the count asks for: what commands print at their end.

    >>> plural(1, "record"), plural(2_001, "record"), plural(2, "genome"), plural(1, "batch", "batches")
    ('1 record', '2,001 records', '2 genomes', '1 batch')
    """
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
