"""Judge generated sequences against real genomes: would a biologist mistake them for DNA?

For each SEQS file (generated sequences, or samples of a baseline model: one set per file) and for
windows of the ``--reference`` genomes cut to the same length, every sequence gets:

* ``gc``, ``gc_skew`` ((G-C)/(G+C)), ``homopolymer`` (longest run of one base);
* ``js3`` ... ``js8``: Jensen-Shannon divergence (bits) of its canonical k-mer spectrum to the
  reference's pooled spectrum;
* genes called by pyrodigal in metagenomic mode (``prodigal -p meta``): ``genes``,
  ``coding_density`` (fraction of bases in a gene), ``gene_aa`` (mean protein length), and the
  protein sanity check ``aa_js`` (JS divergence of the proteins' amino-acid composition to the
  reference proteins');
* ``stop_rate``: stop codons per codon over the six frames (random DNA at 50% GC: 0.047);
* ``markov_bpb``: bits per base under an order-``--markov-order`` Markov model of the reference
  (``genolm_bpb`` too, under ``--model``, any causal genolm run);
* with ``--train`` (the training corpus): ``longest_match``, the longest exact match on either
  strand (k-mer index, matches of 31 bases or more), and ``shared_31mers``.

Reference windows are split in two random halves A and B; a window of A is compared with B (its
Markov model, its pooled spectra and proteins) and one of B with A, while the judged sets are
compared with both and averaged, so nothing is judged against data that contains it.

Verdict: ``pass_<stat>`` per criterion against the reference windows' own spread (the central
``--coverage`` of their values, two-sided for gc, gc_skew, gene_aa, stop_rate and markov_bpb;
one-sided for homopolymer, js6 and aa_js (at most the upper bound) and coding_density (at least
the lower bound)) and ``viable`` when all pass; separately, ``pass_novel`` (longest_match below
``--max-match``, with ``--train``): a copy of training DNA can be viable, but it is not new.  The reference's own pass rate shows what the thresholds cost real DNA.

Per set: means, pooled k-mer JS to reference half A of as many of its sequences as half B has
(``js6_pooled``; the reference row is B against A, the floor), and a discriminator: logistic
regression on canonical k-mer frequencies (``--disc-k``) telling the set from the reference,
cross-validated AUROC (0.5: indistinguishable on those features; the reference row: A vs B).

Writes ``sequences.parquet`` (a row per sequence), ``genes.parquet``, ``summary.tsv``,
``summary.json`` (with the thresholds), ``kmer_spectra.png``, ``gene_maps.png`` and
``distributions.png``.

With ``--score`` (whole genomes: designs of a phage), every genome also gets a calibrated
viability score: a logistic combination of the model's bits per base (``--model``), its worst
reference gene's bits in context, Markov bits, 16-mer identity to the nearest ``--train`` genome
and the weakest reference gene's hit (``--genome`` and ``--annotation``), fitted on a validation
set of the ``--reference`` genomes (whole natural genomes kept out of training: viable) and
damaged copies of them (a frameshift or premature stop in a gene, a deleted gene, two genes
swapped, a chimera, a stretch of 60-400 bases written twice, 0.5/1/3/10% substitutions: not
viable), cross-validated by source genome.  When
the combination does not beat its best component there, the score is that component alone.
``viability_score`` is the probability of viability and ``score_viable`` its verdict (>= 0.5);
``validation.tsv`` has the AUROC per damage type of the score and of each component, and
``viability_score.json`` the fitted score.

Example:
  genolm viability gen.fasta markov.fasta --reference heldout.fasta --train train.fasta --out viab
  genolm viability gen.fasta --reference genomes/*.fasta.gz --window 5000 --model run --out viab
  genolm viability designs/designs.fasta --score --reference isolates.fasta --train train_genomes.fasta \
      --genome phix.fna --annotation phix.gff --model phage_run --out viab
"""

from __future__ import annotations

import argparse
import math

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.generation.viability import ViabilityArgs, run

ARGS = ViabilityArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("seqs", nargs="+", metavar="SEQS", help="FASTA files to judge, one set each")
    p.add_argument("--reference", nargs="+", required=True, metavar="REAL",
                   help="real genomes or windows (FASTA), cut to --window bases")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train", nargs="*", default=[], metavar="FASTA",
                   help="the training corpus, for the memorisation test (longest exact match)")
    p.add_argument("--window", type=int, default=0,
                   help="reference window length (0: the median length of the first set)")
    p.add_argument("--max-reference", type=int, default=1000, help="reference windows drawn at most")
    p.add_argument("--markov-order", type=int, default=6,
                   help="order of the Markov model fit on the reference, for bits per base")
    p.add_argument("--model", help="also score bits per base under this causal genolm run")
    p.add_argument("--coverage", type=float, default=0.95,
                   help="central share of the reference's values that passes each criterion")
    p.add_argument("--max-match", type=int, default=200,
                   help="an exact match to --train this long or longer fails the novelty test")
    p.add_argument("--disc-k", type=int, default=4, help="k-mer length of the discriminator's features")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the discriminator")
    p.add_argument("--gene-maps", type=int, default=3, help="sequences per set drawn in gene_maps.png")
    add_seed(p, "reference windows and the discriminator's folds")
    add_device(p, "--model")
    p.add_argument("--batch-size", type=int, default=32, help="for --model")
    g = p.add_argument_group("whole-genome viability score (--score)")
    g.add_argument("--score", action="store_true",
                   help="a calibrated viability score per genome, fitted on --reference genomes (viable) and "
                        "damaged copies of them")
    g.add_argument("--genome", metavar="FASTA", help="the annotated reference genome (with --score)")
    g.add_argument("--annotation", metavar="GFF", help="its CDS in GFF3 (with --score)")
    g.add_argument("--damage-copies", type=int, default=2,
                   help="damaged copies of each --reference genome per kind of damage (default: 2)")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(ViabilityArgs.from_namespace(args))
    rows = r["summary"]
    cols = [("set", "{}"), ("n", "{}"), ("gc", "{:.3f}"), ("coding_density", "{:.3f}"), ("gene_aa", "{:.0f}"),
            ("stop_rate", "{:.4f}"), ("markov_bpb", "{:.3f}"), ("js6_ratio", "{:.2f}"),
            ("discriminator_auroc", "{:.3f}"), ("viable", "{:.2f}"), ("longest_match_max", "{}"),
            ("pass_novel", "{:.2f}")]
    cols = [c for c in cols if c[0] in rows[0]]
    print("\t".join(c for c, _ in cols))
    for row in rows:
        print("\t".join(f.format(row[c]) if not isinstance(row[c], float) or math.isfinite(row[c]) else "nan"
                        for c, f in cols))
    print(f"thresholds from {rows[0]['n']} reference windows of {r['window']:,} bases; "
          f"tables and plots in {args.out}/")
    v = r.get("validation")
    if v:
        names = list(v["components"])
        print(f"viability score: cross-validated AUROC on {v['n_viable']} natural genomes against {v['n_damaged']} "
              f"damaged copies (chosen: {v['chosen']})")
        print("damage\tcombined\t" + "\t".join(names))
        for k in v["combined"]:
            print(f"{k}\t{v['combined'][k]:.3f}\t" + "\t".join(f"{v['components'][n][k]:.3f}" for n in names))
        print("mean score: " + ", ".join(f"{row['set']} {row['viability_score']:.3f}" for row in rows))
    return 0
