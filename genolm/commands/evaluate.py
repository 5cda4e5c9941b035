"""Held-out bits per base of trained models, next to an order-k Markov baseline, on one corpus.

For every RUN (from ``genolm pretrain``): the model's bits per base on the validation split of
--data (every window; next-token likelihood for causal models, masked-token pseudo-likelihood for
masked ones), its size, the tokens it was trained on and its training time.  With ``--markov K``,
an interpolated Markov model of orders 0..K is fit on the training split (both strands; its
smoothing weights on the last 5% of every training record, less its near copies of the rest) and
scored on the validation records (or fit on another corpus with ``--markov-data``) —
the baseline a language model has to beat.  Prints a table; ``--out`` writes it as TSV.

Example:
  genolm prepare data/H.Pylori__G27.fasta.gz data/H.Pylori__SJM180.fasta.gz --split region \\
      --val-fraction 0.1 --window 256 --out corpus
  genolm pretrain --data corpus --out tf --model tiny --steps 400
  genolm pretrain --data corpus --out lstm --family lstm --model tiny --steps 400
  genolm evaluate --data corpus tf lstm --markov 12 --out table.tsv
  genolm evaluate --data test_only --markov 12 --markov-data corpus   # Markov fit on another corpus
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device
from genolm.train.evaluation import EvaluateArgs, evaluate

ARGS = EvaluateArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directories from 'genolm pretrain'")
    p.add_argument("--data", required=True, help="prepared corpus (its validation split is scored)")
    p.add_argument("--markov", type=int, default=None, metavar="K", help="add an order-0..K Markov baseline")
    p.add_argument("--markov-data", default=None, metavar="CORPUS",
                   help="fit the Markov model on the training split of this corpus (default: --data's), "
                        "e.g. when --data is an evaluation-only corpus (--val-fraction 1)")
    p.add_argument("--batch-size", type=int, default=16, help="validation windows per forward pass")
    add_device(p)
    p.add_argument("--out", default=None, help="write the table as TSV")


def setup(args: argparse.Namespace) -> int:
    from genolm.report import bits_verdict

    rows = evaluate(EvaluateArgs.from_namespace(args))
    print_table(rows)
    for line in bits_verdict([(r["model"], r["val_bpb"], r["tokens_seen"]) for r in rows]):
        print(line)
    return 0


def print_table(rows: list[dict]) -> None:
    print(f"{'model':34s} {'params':>11s} {'tokens seen':>12s} {'train s':>8s} {'val bits/base':>13s}")
    for r in rows:
        params = f"{r['params']:,}" if r["params"] else "-"
        print(f"{r['model'][:34]:34s} {params:>11s} {r['tokens_seen']:>12,} {r['train_s']:>8} {r['val_bpb']:>13.4f}")
