"""Forecast next season's virus from the seasons before it, and measure the forecast.

``genolm evolve`` reads dated, aligned, in-frame nucleotide sequences (the date from a header
field, or from a ``--metadata`` table), trains a causal model (new, or fine-tuning ``--init``)
only on the sequences dated up to ``--until`` (checked: the latest training date is recorded, and
nothing from a later season is ever encoded), with recent sequences weighted up (their weight
halves every ``--half-life`` years), and makes two forecasts for season ``--predict``:

* **Strain pick**: among the sequences of season ``--until`` (the candidates), the one the model
  finds most likely (bits per A/C/G/T base): the recency-weighted model's idea of the coming virus.
* **Mutation pick**: every amino-acid substitution away from the last season's consensus, ranked by
  its log-likelihood ratio on the last season's nucleotide consensus (the log-sum-exp over the
  substitution's codons, as ``genolm score --level aa``, in fp32).  ``genolm + frequency`` ranks by
  the mean of the percentile ranks of that score and of the last-season frequency.

* **Fitness model** (genolm.evolution.fitness, after Łuksza & Lässig 2014 and Huddleston et al.
  2020): the population of the last ``--months`` months, each candidate grown by exp(its
  fitness).  Fitness weighs ``--fitness-terms``: lbi (its local branching index in the season's
  tree, Neher et al. 2014; the default: the best strain pick measured), growth (its clade's rise
  over the season before: the closest predicted population), constraint (genolm's combined
  mutation-effect score of its changes, from the family up to ``--until``) and epitope (novelty
  at ``--epitope-sites`` to the three seasons before).  The weights are fit only on past seasons
  (each season's forecast of the next, both at or before ``--until``).  Its strain pick is the candidate closest to that
  predicted population, its mutation ranking the predicted population's share carrying each
  substitution, and its predicted population's mean amino-acid distance to the target season is
  reported beside the last season's and the last months' (Huddleston et al.'s measure).

The baselines come in the same run: the candidate closest to the last season's consensus, the one
closest to the amino-acid profile of the last ``--months`` months, the one with the highest local
branching index (Neher et al. 2014) on the UPGMA tree of the candidates; for mutations, each amino
acid's last-season frequency and its rise over the season before.  When the target season is in
the data, every pick is scored: strain pick (0 = a random candidate, 1 = the best one, in amino
acids to the target season's sequences), mutation AUROC and precision@10 against the
substitutions that reach 50% in the target season, and the sweeps no frequency baseline can see
(absent from the last season) with the rank genolm gives them.

Writes to --out (atomically): ``forecast.json`` (picks, top mutations, evaluation),
``mutations.parquet`` (every substitution with every score), ``candidates.tsv``,
``landscape.png`` (score of every substitution along the protein, true sweeps marked) and
``checkpoint/`` (the model: --out is a genolm run for ``genolm score --model``).
``--backtest 2001-2010`` forecasts every season of the range, each from the years before it only,
into ``--out/season_YYYY/``, and writes ``summary.json``, ``summary.tsv`` and ``seasons.png``
(score per season, genolm and baselines).

One HA1 season takes one to two minutes on one GPU (1,500 training steps, then the exact scores of
20,727 codon changes).  On a 2-core CPU a step takes about 4 s and the scoring about ten minutes,
so use a GPU (or fewer --steps) there.

Example:
  genolm evolve --data data/h3n2_ha1_1968-2010.fasta.gz --until 2004 --predict 2005 --out flu_2005
  genolm evolve --data data/h3n2_ha1_1968-2010.fasta.gz --backtest 2001-2010 --device cuda --out flu_backtest
  genolm evolve --data data/h3n2_ha1_1968-2010.fasta.gz --until 2004 --fitness-terms growth,constraint,epitope \
      --epitope-sites koel-h3 --out flu_2005_epitope
  genolm evolve --data sarscov2.fasta --metadata metadata.tsv --id-column strain --date-column date \\
      --until 2021 --out sars_2022
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.evolution.forecast import EvolveArgs, print_summary, run
from genolm.io.progress import plural

ARGS = EvolveArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="aligned, in-frame nucleotide FASTA of dated sequences")
    p.add_argument("--metadata", help="TSV/CSV with the dates (default: a field of each header)")
    p.add_argument("--id-column", default="id", help="--metadata column matching the record ids (default: id)")
    p.add_argument("--date-column", default="date", help="--metadata column of the dates (default: date)")
    p.add_argument("--date-field", type=int, default=2,
                   help="0-based --sep-separated header field holding the date (default: 2, as strain|acc|date|…)")
    p.add_argument("--sep", default="|", help="header field separator (default: |)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--until", type=int, help="last observed season (calendar year): train on it and the years before")
    g.add_argument("--backtest", help="forecast every season FIRST-LAST (e.g. 2001-2010), each from the years before")
    p.add_argument("--predict", type=int, help="season to forecast (default: --until + 1)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--init", help="a causal genolm run (one-letter DNA tokenizer) to fine-tune")
    p.add_argument("--flavor", default="tiny", help="size of a new model (default: tiny)")
    p.add_argument("--steps", type=int, default=1500, help="training steps per season (default: 1500)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per training step")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-3 new, 2e-4 --init)")
    p.add_argument("--half-life", type=float, default=1.0,
                   help="years after which a sequence's training weight halves (0: all equal; default: 1)")
    p.add_argument("--months", type=int, default=3, help="months of the profile baseline (default: 3)")
    p.add_argument("--frame", type=int, default=0, choices=(0, 1, 2), help="reading frame (default: 0)")
    p.add_argument("--table", type=int, default=1, help="NCBI genetic code (default: 1)")
    p.add_argument("--top", type=int, default=20, help="mutations listed in forecast.json (default: 20)")
    p.add_argument("--fitness-terms", default="lbi",
                   help="terms of the fitness model, comma-separated: growth, constraint, epitope, lbi "
                        "(default: lbi, the best strain pick measured on H3N2 2001-2010; each weight is fit on past "
                        "seasons, 0 allowed)")
    p.add_argument("--epitope-sites", metavar="SITES",
                   help="1-based protein positions of the epitope term, comma-separated, or koel-h3 (the seven "
                        "HA1 sites of Koel et al. 2013: 145,155,156,158,159,189,193)")
    add_device(p)
    add_seed(p, "model's initialisation and training")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(EvolveArgs.from_namespace(args))
    if "summary" in r:
        print_summary(r["summary"], args.out)
        return 0
    print(f"{args.out}: trained on {plural(r['train']['sequences'], 'sequence')} up to {r['train']['latest_date']} "
          f"({r['train']['left_out_later']:,} later ones left out); {r['candidates']} candidates from {r['until']}")
    print(f"strain pick for {r['predict']}: {r['strain_pick']['genolm']}")
    print("top mutations: " + ", ".join(m["mutation"] for m in r["top_mutations"][:10]))
    if "evaluation" in r:
        e = r["evaluation"]
        print("strain-pick score: " + ", ".join(f"{k} {v:.3f}" for k, v in e["strain_pick"].items()))
        print("predicted population's mean distance to it: " +
              ", ".join(f"{k} {v:.2f}" for k, v in e["population_distance"].items()))
        print("precision@10: " + ", ".join(f"{k} {v['precision@10']:.2f}" for k, v in e["mutation_pick"].items()) +
              f" (ceiling {e['precision@10_ceiling']:.1f})")
    return 0
