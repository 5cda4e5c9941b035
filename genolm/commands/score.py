"""Score every substitution of a sequence under a language model: ``genolm score``.

For each input sequence, every single-nucleotide substitution (``--level nt``) or every
amino-acid substitution of every codon in frame (``--level aa``), with its score:

* ``llr`` (causal models): log P(mutant) − log P(reference), in nats.  One reference pass keeps
  every layer's keys and values; a substitution at position v then runs only the changed tokens
  and what follows them, attending to the cached reference prefix (whose states a change at v
  cannot alter).  Exact for sequences that fit the model's length; ``--suffix N`` scores only the
  changed tokens and N after them (the effect of a change fades downstream), much faster.  Longer ones (a 30 kb genome)
  are cut into overlapping reference windows. A substitution is scored in the window that gives it
  at least ``--context`` tokens before it; ref and mutant then share exactly that context.
* ``masked-marginal`` (masked models): log p(alt) − log p(ref) at the position, masked, in a
  window around it; one masked pass per position serves its three substitutions (and a codon's
  63 with ``--level aa``, the product of its three positions' marginals).

An amino-acid substitution's score is the log-sum-exp over every codon that encodes the new amino
acid (a likelihood ratio marginal over the codons), with the fewest nucleotide changes any of
them needs.  ``--strand both`` averages a score with that of the same change on the reverse
complement.  ``--naive`` runs one full forward pass per substitution instead (the reference the
fast path is tested against, and the baseline of benchmarks/evolution/score_speed.py).

Output: Parquet, one row per substitution. ``--level nt``: seq_id, position (1-based), ref, alt,
score.  ``--level aa``: seq_id, codon (1-based), position (of the codon's first base), ref_codon,
ref_aa, alt_aa, score, best_codon, nt_changes, blosum62 (the BLOSUM62 score of ref_aa -> alt_aa), and
with ``--family`` frequency (the family's log((n[alt] + 1) / (n[ref] + 1)) at the codon) and
combined: genolm's estimate of how well the protein tolerates the change.

The combined score (with ``--family``) is a linear reading, fit by ridge regression on measured
effects, of what the family and the substitution matrix say: the frequency table, how much the
site varies (entropy, proteins unlike the wild type, amino acids seen twice), whether the family
shows the mutant or amino acids like it, BLOSUM62 and which amino acid the mutant is (P and C are
rarely tolerated).  Each feature is standardised within the run.  Its shipped weights were fit on
the deep mutational scan of the A/Perth/16/2009 HA (development sites); on the sites held out of
each fit it ranks the scan's effects better than the frequency table alone (BENCHMARKS.md).
``--fit-combination`` fits new weights to a ``--truth`` of your own, ``--combination`` uses them.

Against the lab (``--truth``, deep mutational scanning of the scored protein): Spearman's rank
correlation of the model's scores, the combined score and each baseline (BLOSUM62; the frequency table with
``--family``) with the measured effects, over every (site, amino acid) pair and its mean within
sites, printed and written to OUT.truth.json (and per site to OUT.truth.tsv).  Preferences
(``site`` + the 20 amino acids) give the effect log(pref[mutant] / pref[wild type]); a file of
``site, mutant, effect`` gives it directly.  Site s is codon s + ``--truth-offset``.

Example:
  genolm score ha1.fasta --model run --out ha1_nt.parquet
  genolm score ha1.fasta --model run --level aa --table 1 --out ha1_aa.parquet
  genolm score perth09_ha.fa --model run --level aa --out perth.parquet --truth prefs.csv \\
      --truth-offset 16 --family h3n2_ha1.fasta.gz --family-until 2009    # against the lab
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress
from genolm.evolution.scoring import LEVELS, METHODS, STRANDS, ScoreArgs, run
from genolm.io.progress import plural

ARGS = ScoreArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ")
    p.add_argument("--model", required=True, help="genolm run (char tokenizer)")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--level", choices=LEVELS, default="nt",
                   help="nt: every single-nucleotide substitution; aa: every amino acid of every codon (in --frame)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto: llr for a causal model, masked-marginal for a masked one")
    p.add_argument("--frame", type=int, default=0, choices=(0, 1, 2), help="reading frame of --level aa (default: 0)")
    p.add_argument("--table", type=int, default=1, help="NCBI genetic code of --level aa (default: 1)")
    p.add_argument("--strand", choices=STRANDS, default="forward",
                   help="both: average with the same change scored on the reverse complement")
    p.add_argument("--context", type=int, default=None,
                   help="tokens of context before a substitution in long sequences (default: half the model's length)")
    p.add_argument("--suffix", type=int, default=0,
                   help="llr: score only the changed tokens and N after them (default 0: to the window's end, exact)")
    p.add_argument("--batch-size", type=int, default=64, help="variant sequences per forward pass")
    p.add_argument("--naive", action="store_true", help="one full forward pass per substitution (slow; a reference)")
    g = p.add_argument_group("against the lab (deep mutational scanning; --level aa)")
    g.add_argument("--truth", metavar="CSV",
                   help="measured effects: preferences (site + the 20 amino acids, each row summing to 1; "
                        "effect = log(pref[mutant] / pref[wild type])) or site, mutant, effect[, wildtype]. "
                        "Reports Spearman over all pairs and per site, for the model and every baseline, in "
                        "OUT.truth.json and OUT.truth.tsv")
    g.add_argument("--truth-offset", type=int, default=0,
                   help="codons of the scored sequence before the truth's site 1 (a signal peptide; default: 0)")
    g.add_argument("--truth-mapping", metavar="CSV", help="site, codon rows for sites that are not numbers (133a)")
    g.add_argument("--family", nargs="+", default=[], metavar="FASTA",
                   help="coding sequences of the protein's family (in frame from their first base): the "
                        "frequency-table baseline, log((n[mutant] + 1) / (n[wild type] + 1)) per position")
    g.add_argument("--family-until", type=int, metavar="YEAR",
                   help="only family sequences dated up to YEAR (header field 3, '|'-separated: "
                        "strain|accession|date|…); score a scanned strain with what came before it")
    g.add_argument("--family-identity", type=float, metavar="ID",
                   help="reweight near-duplicates: each family protein weighs 1 / (proteins at least ID "
                        "identical to it), as EVE does (default: none; every distinct protein counts its copies)")
    g.add_argument("--combination", metavar="JSON",
                   help="weights of the combined column (default: genolm's, fit on the Perth/2009 HA scan's "
                        "development sites)")
    g.add_argument("--fit-combination", metavar="JSON",
                   help="fit the combination to --truth and write it (report: in sample and on held-out halves "
                        "of the sites); use it on another protein with --combination")
    g.add_argument("--fit-model", action="store_true",
                   help="the fit also reads the model's scores (its score and how readily it changes the site); "
                        "by default the combination reads only the family, BLOSUM62 and the mutant")
    add_device(p)
    p.add_argument("--fp32", action="store_true",
                   help="on a GPU, compute in fp32 instead of bf16 (slower; bf16 scores drift by up to ~1 nat)")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(ScoreArgs.from_namespace(args))
    print(f"{args.out}: {r['rows']:,} substitutions of {plural(r['sequences'], 'sequence')}, {r['method']} "
          f"({r['strand']} strand{'s' if r['strand'] == 'both' else ''}), {r['seconds']:.1f} s "
          f"({r['rows'] / max(r['seconds'], 1e-9):,.0f} per second)")
    if r.get("truth"):
        t = r["truth"]
        print(f"against {t['truth']} ({t['kind']}: {t['pairs']:,} pairs at {t['sites']} sites), Spearman:")
        print(f"  {'':22s} {'all pairs':>10s} {'per site':>10s}")
        for name, a in t["agreement"].items():
            print(f"  {name:22s} {a['all_pairs']:10.3f} {a['mean_per_site']:10.3f}")
        if t.get("fitted_combination"):
            f = t["fitted_combination"]
            print(f"  {'combined (held out)':22s} {f['held_out']['all_pairs']:10.3f} {f['held_out']['mean_per_site']:10.3f}"
                  f"   (fit on half the sites, ranked on the other half, {f['held_out']['splits']} splits)")
            print(f"combination written to {f['file']}")
    return 0
