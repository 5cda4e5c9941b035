"""Benchmark suites: fine-tune one model on every task of a suite and compare with published numbers.

``genolm bench gue`` runs ``genolm finetune`` on each GUE task (a folder with train, dev and test
CSVs of ``sequence,label``; ``.csv`` or ``.csv.gz``): the model is picked on dev (early stopping)
and scored once on test.  Metric: MCC × 100 on test, the GUE convention; with ``--seeds N`` the
mean and standard deviation over N fine-tuning seeds.  Writes ``--out/results.tsv`` (task, metric,
genolm, sd, seeds, published DNABERT-2, NT-2500M-multi and the best published figure),
``--out/results.png`` and each run's folder (``TASK/seed_K``), and prints the table.

Tasks: every folder under --data holding the three splits (named by its path, e.g. ``tf/0`` or
``prom/prom_300_tata``); ``--tasks`` keeps some of them, by name or as paths to other task folders
(any folder with train/dev/test CSVs can be added that way).  Published figures: DNABERT-2 paper
(Zhou et al. 2024, ICLR), Table 4, MCC × 100.

Example:
  genolm bench gue --model run --data ../shared/data/benchmarks/gue --out gue_run
  genolm bench gue --model cnn --flavor small --data gue --out gue_cnn --tasks tf/0 prom/prom_300_tata --seeds 3
  genolm bench gue --model run --data gue --out gue_run --seeds 2 --first-seed 2   # seeds 2-3, e.g. on a 2nd GPU

A task/seed folder that already holds a finished fine-tuning with the same settings is reused, so
an interrupted bench continues where it stopped, and ``--collect`` gathers the table of parallel
runs into the same --out without training anything.
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress
from genolm.finetune.gue import BenchArgs, cell, run

ARGS = BenchArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", choices=("gue",), help="benchmark suite")
    p.add_argument("--model", required=True, help="genolm run, Hugging Face folder, or cnn | lstm | transformer")
    p.add_argument("--data", required=True, help="folder of task folders (each with train/dev/test CSVs)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tasks", nargs="*", default=None, help="task names under --data, or paths to task folders")
    p.add_argument("--seeds", type=int, default=1, help="fine-tuning seeds per task (default: 1)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds run from this one (default: 0); e.g. one GPU runs seeds 0-1, another 2-3")
    for flag, default, kind in (("--epochs", 10, int), ("--patience", 3, int), ("--min-steps", 0, int),
                                ("--batch-size", 32, int),
                                ("--lr", None, float), ("--lora", 0, int), ("--flavor", "tiny", str)):
        p.add_argument(flag, type=kind, default=default, help="as in genolm finetune")
    p.add_argument("--freeze", action="store_true", help="linear probes (as in genolm finetune)")
    p.add_argument("--pool", default="mean", choices=("mean", "last", "cls"),
                   help="how the classification head pools the backbone's tokens")
    p.add_argument("--compile", action="store_true", help="torch.compile each model (as in genolm finetune)")
    p.add_argument("--collect", action="store_true",
                   help="train nothing: make the table from the task/seed folders already finished in --out "
                        "with these settings (e.g. after seeds ran in parallel); a task with none is left out")
    add_device(p)
    add_no_progress(p)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'task':28s} {'genolm':>8s} {'± sd':>6s} {'DNABERT-2':>10s} {'NT-2.5B':>8s} {'best pub.':>9s}")
    for r in rows:
        sd = f"{r['sd']:.2f}" if r["sd"] else "-"
        print(f"{r['task']:28s} {r['genolm']:8.2f} {sd:>6s} {cell(r['dnabert2']):>10s} "
              f"{cell(r['nt_2500m_multi']):>8s} {cell(r['best_published']):>9s}")


def setup(args: argparse.Namespace) -> int:
    print_table(run(BenchArgs.from_namespace(args)))
    return 0
