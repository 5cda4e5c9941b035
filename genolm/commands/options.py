"""The options many commands share, spelled and explained one way: ``--device``, ``--seed``,
``--no-progress``.  A command adds them with one call each; the CLI checks ``--device`` for every
command before any work (``genolm.train.distributed.resolve_device``)."""

from __future__ import annotations

import argparse

DEVICE_HELP = "auto (a GPU when there is one) | cpu | cuda | cuda:N"


def add_device(p: argparse.ArgumentParser, used_for: str | None = None, default: str | None = "auto") -> None:
    """``--device``; ``used_for`` says what runs there when not everything does (e.g. "embeddings")."""
    p.add_argument("--device", default=default,
                   help=DEVICE_HELP + (f", for {used_for}" if used_for else "") + (" (default: auto)" if default is None else ""))


def add_seed(p: argparse.ArgumentParser, what: str = "random choices", default: int | None = 0) -> None:
    """``--seed``: the same seed and inputs give the same outputs (on the CPU)."""
    p.add_argument("--seed", type=int, default=default, help=f"seed of the {what}: the same seed gives the same output")


def add_no_progress(p: argparse.ArgumentParser, dest: str = "no_progress") -> None:
    """``--no-progress``: by default a bar on a terminal, otherwise a line every 30 seconds."""
    kw = ({"action": "store_true"} if dest == "no_progress" else
          {"dest": dest, "action": "store_const", "const": False, "default": None})
    p.add_argument("--no-progress", **kw,
                   help="no progress display (by default a bar on a terminal, otherwise a line every 30 s)")


def add_sampling(p: argparse.ArgumentParser, batch_size: int, what: str = "sequences") -> None:
    """How a causal model is sampled (``genolm generate`` and ``genolm design``)."""
    from genolm.infer.sampling import ENGINES

    p.add_argument("--temperature", type=float, default=1.0, help="0: greedy (default: 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely bases (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus: the smallest set with this mass (default: 1)")
    p.add_argument("--min-p", type=float, default=0.0,
                   help="leave out bases less than this times as likely as the likeliest, under the model "
                        "before --temperature: with a temperature above 1, more variation where the model "
                        "sees alternatives and none where it sees one base (default: 0, off)")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"{what} sampled together (default: {batch_size})")
    p.add_argument("--engine", default="auto", choices=ENGINES,
                   help="auto: a CUDA graph per step on a GPU, eager on the CPU; compile: torch.compile too")
