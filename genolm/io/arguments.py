"""Arguments that check themselves: every command's options are one dataclass built on
:class:`CommandArgs` (the options most commands share: where the output goes, the device, the
seed, progress), and its ``check`` names the flag of a bad value, before any work is done.

The command line builds it from argparse's namespace (``Args.from_namespace``); a Python user
builds it directly, with the same defaults and the same checks.

>>> from dataclasses import dataclass
>>> @dataclass(kw_only=True)
... class Demo(CommandArgs):
...     steps: int = 10
...     def check(self) -> None:
...         self.at_least("steps", 1)
>>> Demo(out="o").steps
10
>>> Demo(out="o", steps=0)
Traceback (most recent call last):
genolm.errors.GenolmError: --steps must be at least 1 (found 0)
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from genolm.errors import GenolmError


@dataclass(kw_only=True)
class CommandArgs:
    """What most commands take: ``--out``, ``--device``, ``--seed`` and ``--no-progress``."""

    out: str | None = None
    device: str = "auto"
    seed: int = 0
    no_progress: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            self.fail("seed", "an integer", self.seed)
        self.check()

    def check(self) -> None:
        """A command's own checks (override): each names its flag."""

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace):
        """The dataclass of the options argparse parsed (other attributes are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(ns).items() if k in names})

    # -- checks that name the flag
    @staticmethod
    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    def fail(self, name: str, expected: str, found, hint: str | None = None) -> None:
        raise GenolmError(f"bad value for {self.flag(name)}", expected=expected, found=repr(found), hint=hint)

    def at_least(self, name: str, low, *, optional: bool = False) -> None:
        """``name`` is a number >= ``low`` (or None when ``optional``)."""
        value = getattr(self, name)
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise GenolmError(f"{self.flag(name)} must be at least {low}", found=str(value))

    def within(self, name: str, low: float, high: float, *, optional: bool = False) -> None:
        """``name`` is a number from ``low`` to ``high``."""
        value = getattr(self, name)
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise GenolmError(f"{self.flag(name)} out of range", expected=f"{low} to {high}", found=str(value))
