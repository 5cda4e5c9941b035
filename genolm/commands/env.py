"""Sequence → environment: learn a sample's conditions (temperature, salinity, depth layer, …)
from its sequences, and predict them for new sequences.

``genolm env fit`` joins each sequence to its sample in a sample sheet (by file, or with
``--id-pattern`` by its record id, e.g. Tara contigs ``46SUR1…`` → sample ``S46SUR``), turns each
sequence into a vector (the language-model embedding with ``--model``, mean-pooled over both
strands; otherwise its k-mer composition), and for every ``--target`` column of the sheet fits a
ridge regression (numeric columns) or a logistic regression (text columns, e.g. a depth layer).

``--permutations N`` adds a permutation test of the sequence features: the samples' values are
shuffled among the samples N times and scored with the same folds (p-value in metrics.json).

It is scored by cross-validation that holds out whole sites (``--group``, default the sheet's
``station`` column, else the sample): contigs of one sample share its environment exactly, and a
split by sequence would put the answer on both sides.  In the same run: the training mean (or
majority class), the k-mer composition (when ``--model`` is given), and, where the sheet has
latitude and longitude, geography alone and geography + the sequence features.  Per-sequence
predictions are averaged per sample, with their spread as the uncertainty.

Writes to --out (atomically): ``metrics.json`` (R² or balanced accuracy per target and feature
set, pooled over the held-out predictions, with the per-fold spread), ``predictions.tsv``
(held-out prediction per sequence), ``samples.tsv`` (per sample: measured, predicted mean and
sd, sequences; latitude, longitude and date where the sheet has them),
``measured_vs_predicted.png``, and the models fitted on everything (``model.npz``, plain arrays,
and ``fit.json``) for ``genolm env predict``.

Example:
  python data/tara_sheet.py --out tara                # the Tara sheet, contigs placed by id
  genolm env fit --samples tara/samples.tsv --id-pattern '^(?P<station>\\d+)(?P<layer>[A-Z]{3})\\d' \\
      --id-pattern '^TARA_(?P<station>\\d+)_(?P<layer>[A-Z]{3})_' --sample-template 'S{station}{layer}' \\
      --alias SRF=SUR --target temperature_c --target layer --out env_fit
  genolm env predict new_contigs.fasta --fit env_fit --out predictions.tsv
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.environment.conditioned import STRANDS, ConditionArgs, ExplainArgs, condition, explain
from genolm.environment.fit import FitArgs, PredictArgs, fit, predict
from genolm.io.progress import plural

CONDITION_HELP = """Environment → sequence: a causal language model conditioned on the sample's conditions, and
the likelihood of sequences under each condition.

``genolm env condition`` trains (from scratch, or fine-tuning a causal genolm run with
``--init``) a model whose every window starts with one condition token per ``--condition``
column of the sample sheet: numeric columns binned at quantiles of the training samples, text
columns one token per level, and an *unknown* token per column for missing values.  In training
each column's token is replaced by *unknown* at random (``--drop``, and all of them together at
the same rate), so that the same model also gives the unconditional likelihood.

It holds out whole sites (``--group``, default the sheet's ``station``) and then asks the one
question that matters: is a held-out sequence more likely under its own sample's conditions
than under another sample's?  For every held-out sequence it computes the likelihood under the
condition tuple of every held-out sample (strand-averaged), so that shuffling the tuples among
the samples (``--permutations`` times) costs nothing more; the p-value is the share of
shufflings whose held-out bits per base are as low as under the true conditions.  The same
test is run per column with the other columns unknown.

Writes to --out (atomically): ``checkpoint/`` (a genolm run: weights, tokenizer, and the
condition layout in config.json), ``metrics.json``, ``metrics.jsonl`` (training loss),
``scores.tsv`` (per held-out sequence: bits per base under its own, the unknown, and the
average shuffled condition), ``permutation.png`` and ``held_out.npz`` (per held-out sample, the
nats of its sequences under every held-out sample's conditions).

The groups are cut into ``--folds`` folds, the same for every ``--seed``; ``--fold`` picks the one
held out.  Run every fold and ``python benchmarks/environment/condition_folds.py OUT_0 … OUT_4`` gives the
test on every sample (shuffled within each fold).

``genolm env explain`` gives, per sequence, the bits per base under each condition (every bin
of every column, or the sets given with ``--at``) and the condition that explains it best.

Example:
  genolm env condition --samples tara/samples.tsv --id-pattern '^(?P<station>\\d+)(?P<layer>[A-Z]{3})\\d' \\
      --id-pattern '^TARA_(?P<station>\\d+)_(?P<layer>[A-Z]{3})_' --sample-template 'S{station}{layer}' \\
      --alias SRF=SUR --condition temperature_c --condition layer --steps 2000 --out env_lm
  genolm env explain new_contigs.fasta --model env_lm --at temperature_c=25,layer=SUR \\
      --at temperature_c=4,layer=MES --out explained.tsv
"""


# one dataclass per subcommand (tests/test_cli.py: the same names and defaults as the parser)
ARGS = {"fit": FitArgs, "predict": PredictArgs, "condition": ConditionArgs, "explain": ExplainArgs}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from genolm.report import add_report_argument
    sub = p.add_subparsers(dest="env_command", metavar="{fit,predict,condition,explain}", required=True)
    f = sub.add_parser("fit", help="fit and score models of the sheet's conditions from sequences",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("inputs", nargs="*", metavar="INPUT", help="FASTA/FASTQ (default: the sheet's files)")
    f.add_argument("--samples", required=True, help="sample sheet (sample_id, path, conditions with units)")
    f.add_argument("--target", action="append", required=True, help="sheet column to learn (repeatable)")
    _feature_args(f)
    _join_args(f)
    f.add_argument("--group", default=None,
                   help="sheet column held out together (default: station if the sheet has it, else the sample)")
    f.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    f.add_argument("--permutations", type=int, default=0,
                   help="permutation test of the sequence features: shuffle the samples' values N times")
    add_seed(f, "folds and permutations")
    f.add_argument("--out", required=True, help="output directory (replaced atomically)")
    add_no_progress(f)
    add_report_argument(f)
    q = sub.add_parser("predict", help="predict conditions of new sequences with a fitted model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ")
    q.add_argument("--fit", required=True, help="output directory of genolm env fit")
    q.add_argument("--out", required=True, help="output TSV: id, then one column per target")
    add_device(q, "embeddings")
    add_no_progress(q)
    c = sub.add_parser("condition", help="train a language model conditioned on the sheet's conditions; "
                       "held-out permutation test", description=CONDITION_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_condition_arguments(c)
    _join_args(c)
    add_report_argument(c)
    e = sub.add_parser("explain", help="likelihood of sequences under each condition of a conditioned model",
                       description=CONDITION_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_explain_arguments(e)


def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="genolm run or HF folder: embedding features (else k-mers)")
    p.add_argument("--k", type=int, default=4, help="k-mer length of the composition features (default: 4)")
    add_device(p, "embeddings")


def _join_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id-pattern", action="append", default=None, metavar="REGEX",
                   help="place sequences at samples by their ids: a regex with named groups (repeatable)")
    p.add_argument("--sample-template", default="{sample}",
                   help="sample_id made from the pattern's groups (default: {sample})")
    p.add_argument("--alias", action="append", default=[], metavar="FROM=TO",
                   help="rename a group value before the template, e.g. SRF=SUR (repeatable)")


def setup(args: argparse.Namespace) -> int:
    if args.env_command == "fit":
        summary = fit(FitArgs.from_namespace(args))
        print(f"{args.out}: {plural(summary['sequences'], 'sequence')} at {plural(summary['samples'], 'sample')}, "
              f"{args.folds} folds by {summary['group']}, features {summary['features']}")
        print(f"{'target':24s} {'features':18s} {'n':>6s} {'metric':>8s} {'score':>7s} {'fold sd':>7s}")
        for target, sets in summary["metrics"].items():
            for name, m in sets.items():
                p = f"  p = {m['p_value']:.3g} ({m['permutations']} shuffles)" if "p_value" in m else ""
                print(f"{target:24s} {name:18s} {m['n']:6d} {m['metric']:>8s} {m['score']:7.3f} {m['sd']:7.3f}{p}")
        return 0
    if args.env_command == "condition":
        m = condition(ConditionArgs.from_namespace(args))
        h, t = m["held_out"], m["train"]
        print(f"{args.out}: trained on {plural(t['sequences'], 'sequence')} ({plural(t['samples'], 'sample')}, "
              f"{t['steps']} steps, {t['seconds']:.0f} s); held out {plural(h['sequences'], 'sequence')} of "
              f"{plural(h['samples'], 'sample')} "
              f"at {h['groups']} {m['group']} values")
        print(f"{'conditions':24s} {'true bpb':>9s} {'shuffled':>9s} {'gain b/kb':>9s} {'beats':>6s} {'p':>8s}")
        rows = [("all: " + ",".join(m["conditions"]), m)] + list(m["per_condition"].items())
        for name, r in rows:
            print(f"{name:24s} {r['true_bpb']:9.4f} {r['shuffled_bpb']:9.4f} {r['gain_bits_per_kb']:9.2f} "
                  f"{r['own_condition_beats']:6.2f} {r['p_value']:8.3g}")
        print(f"{'unknown (unconditional)':24s} {m['unknown_bpb']:9.4f}")
        if m["in_sample"]:
            r = m["in_sample"]
            print(f"in sample ({r['samples']} training samples): true {r['true_bpb']:.4f}, shuffled "
                  f"{r['shuffled_bpb']:.4f}, gain {r['gain_bits_per_kb']:.2f} bits/kb, p = {r['p_value']:.3g}")
        for name, r in m["per_condition"].items():
            q = r["predicted"]
            base = (f" (training mean {q['per_sequence']['mean_baseline']:.3f} / {q['per_sample']['mean_baseline']:.3f})"
                    if "mean_baseline" in q["per_sequence"] else "")
            print(f"as a predictor of {name}: {q['per_sequence']['metric']} {q['per_sequence']['score']:.3f} "
                  f"per sequence, {q['per_sample']['score']:.3f} per sample{base}")
        return 0
    if args.env_command == "explain":
        summary = explain(ExplainArgs.from_namespace(args))
        print(f"{args.out}: {plural(summary['sequences'], 'sequence')} x {plural(summary['sets'], 'condition set')} "
              f"({summary['strand']} strand{'s' if summary['strand'] == 'both' else ''})")
        return 0
    summary = predict(PredictArgs.from_namespace(args))
    print(f"{args.out}: {plural(summary['sequences'], 'sequence')}, targets {', '.join(summary['targets'])}")
    return 0


# ---- joining sequences to samples --------------------------------------------------------------


# ---- fit ---------------------------------------------------------------------------------------


# ---- predict -----------------------------------------------------------------------------------


def add_condition_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="FASTA/FASTQ (default: the sheet's files)")
    p.add_argument("--samples", required=True, help="sample sheet (sample_id, path, conditions with units)")
    p.add_argument("--condition", action="append", required=True, help="sheet column to condition on (repeatable)")
    p.add_argument("--bins", type=int, default=8, help="quantile bins per numeric condition (default: 8)")
    p.add_argument("--init", default=None, help="causal genolm run to fine-tune (default: a new model)")
    p.add_argument("--flavor", default="tiny", help="size of a new model (default: tiny)")
    p.add_argument("--tokenizer", default="char", help="tokenizer of a new model (default: char)")
    p.add_argument("--window", type=int, default=512, help="tokens per training window, prefix included (default: 512)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per training step")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps of the conditioned model")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3 new, 2e-4 with --init)")
    p.add_argument("--drop", type=float, default=0.15,
                   help="chance that a condition is hidden in a training window (default: 0.15)")
    p.add_argument("--group", default=None,
                   help="sheet column held out together (default: station if the sheet has it, else the sample)")
    p.add_argument("--folds", type=int, default=5,
                   help="the groups are cut into this many folds (the same for every --seed; default: 5)")
    p.add_argument("--fold", type=int, default=0,
                   help="the fold held out (default: 0); run each fold and combine them with "
                        "benchmarks/environment/condition_folds.py for a test on every sample")
    p.add_argument("--permutations", type=int, default=9999, help="shufflings of the held-out conditions")
    p.add_argument("--strand", choices=STRANDS, default="auto",
                   help="score one strand or average both (auto: both for DNA/RNA letters)")
    add_device(p)
    add_seed(p, "model's initialisation, training and permutations")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    add_no_progress(p)


def add_explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ")
    p.add_argument("--model", required=True, help="output directory of genolm env condition")
    p.add_argument("--at", action="append", default=None, metavar="NAME=VALUE[,NAME=VALUE]",
                   help="a condition set to score (repeatable; default: every bin of every condition)")
    p.add_argument("--strand", choices=STRANDS, default="auto",
                   help="score one strand or average both (auto: both for DNA/RNA letters)")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass")
    add_device(p)
    p.add_argument("--out", required=True, help="output TSV")
    add_no_progress(p)
