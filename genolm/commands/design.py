"""Design whole genomes: generate many, keep the ones that could be a phage like the reference.

``genolm design`` samples ``--num`` genomes from a causal genolm model (batched and seeded, as
``genolm generate``); a genome ends where the model ends it (the <sep> that closed every training
record; never before ``--min-length``, which it would fail), or at ``--length`` bases (default: the reference's length + 10%).  It puts every one through the
filter funnel, ranks the survivors by the model's bits per base (lower first; or by a fitted
``--viability-score``, higher first), clusters them at
``--cluster-identity`` and keeps the best ``--keep``, at most ``--per-cluster`` from a cluster.

The funnel, cheapest stage first (a genome's row says every stage's value and verdict):

* letters: only A/C/G/T;  length: ``--min-length`` .. ``--max-length`` (default 4,000 – 6,000);
  gc: ``--min-gc`` .. ``--max-gc`` (0.30 – 0.65);  homopolymer: no run over ``--max-homopolymer``
  (10);
* with ``--reference`` and ``--annotation`` (the genome and its CDS in GFF3): every reference
  protein found in the genome's open reading frames (all six frames, around the circle;
  Smith-Waterman, pyopal), every one whole (its hit covers 90% of the protein: a frameshift or a
  premature stop cuts it), in the reference's order around the circle, and the ``--spike``
  protein (a gene name or a protein FASTA) 60 – 100% identical;
* novel: at most ``--max-identity`` (0.989) base identity to the reference and to every genome
  of ``--train`` (the genomes the model learnt from), once turned to the same strand and start.

Genomes are circular: each is turned to start where the reference does before genes and
identity are compared, so a rotation of phiX174 is phiX174.  Aligned genome files (with ``-``
or ``.`` gaps) are read without their gaps.

Writes to --out (atomically): ``designs.fasta`` (the kept designs, best first), ``designs.parquet``
and ``designs.tsv`` (every generated genome: each stage's value and verdict, bits per base, rank,
cluster, kept), ``genes.tsv`` (where each reference gene lies in the kept designs),
``funnel.tsv`` (how many pass each stage, and every stage so far), ``generated.fasta`` (all
generations) and ``summary.json``.

Example:
  genolm design --model phage_run --num 1000 --reference data/microviridae/NC_001422_1.fna.gz \\
      --annotation data/microviridae/NC_001422.1_pseudocircular.gff \\
      --spike data/microviridae/NC_001422.1_Gprotein.fasta.gz \\
      --train data/microviridae/phage_sft_genomes_phix174_variants.fna.gz --keep 20 --out designs \\
      --temperature 2 --min-p 0.05

The model (a whole genome per window, circular genomes turned to one start):
  genolm prepare bacteria/*.fasta.gz --out base_corpus --window 8192 --split region --val-fraction 0.02
  genolm pretrain --data base_corpus --out base --model small --minutes 30
  genolm prepare family.fna --rotate-to data/microviridae/NC_001422_1.fna.gz --out family \\
      --window 8192 --val-fraction 0.1 \\
      --annotation data/microviridae/NC_001422.1_pseudocircular.gff --synonymous-copies 8
  genolm pretrain --data family --out phage_run --init base --patience 3 --eval-every 25

A family of near-identical genomes (the 134 phiX174 genomes are nearly one strain) teaches a
model one sequence and no sense of where it may change: its novel designs carry missense changes
and stops.  ``--synonymous-copies`` adds copies whose genes are synonymously recoded, so the
model's doubt moves to codons it may change without changing a protein.
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_sampling, add_seed
from genolm.generation.design import DesignArgs, run
from genolm.io.progress import plural

ARGS = DesignArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="causal genolm run (one-letter DNA tokenizer)")
    p.add_argument("--num", type=int, default=100, help="genomes to generate (default: 100)")
    p.add_argument("--length", type=int, help="the most bases per genome; a genome ends where the model ends its record "
                                                   "(default: the reference's length + 10%%)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--prompt", help="sequence (or FASTA file: its first record) every genome starts with")
    p.add_argument("--reference", metavar="FASTA", help="the genome designs are held against (its first record)")
    p.add_argument("--annotation", metavar="GFF", help="the reference's genes (GFF3 CDS features)")
    p.add_argument("--spike", help="the spike gene: a gene name of --annotation, or a protein FASTA")
    p.add_argument("--train", nargs="+", default=[], metavar="FASTA",
                   help="genomes the model learnt from: a design must not be a near copy of any")
    p.add_argument("--viability-score", metavar="JSON",
                   help="rank by this score (viability_score.json of genolm viability --score) instead of the "
                        "model's bits per base")
    p.add_argument("--keep", type=int, default=10, help="designs to keep (default: 10)")
    p.add_argument("--per-cluster", type=int, default=1, help="kept designs per cluster at most (default: 1)")
    p.add_argument("--cluster-identity", type=float, default=0.99,
                   help="base identity that puts two designs in one cluster (default: 0.99)")
    add_sampling(p.add_argument_group("sampling (as genolm generate)"), 16, "genomes")
    p.add_argument("--workers", type=int, default=0, help="processes judging the genomes (default: 0 = one per core)")
    f = p.add_argument_group("the funnel's limits")
    f.add_argument("--min-length", type=int, default=4000, help="fewest bases (default: 4000)")
    f.add_argument("--max-length", type=int, default=6000, help="most bases (default: 6000)")
    f.add_argument("--min-gc", type=float, default=0.30, help="lowest G+C share (default: 0.30)")
    f.add_argument("--max-gc", type=float, default=0.65, help="highest G+C share (default: 0.65)")
    f.add_argument("--max-homopolymer", type=int, default=10, help="longest run of one base (default: 10)")
    f.add_argument("--max-identity", type=float, default=0.989,
                   help="highest base identity to the reference or a --train genome (default: 0.989)")
    f.add_argument("--min-spike-identity", type=float, default=0.60,
                   help="lowest identity of the spike protein to the reference's (default: 0.60)")
    add_seed(p, "sampling")
    add_device(p)
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    s = run(DesignArgs.from_namespace(args))
    print(f"{args.out}: {plural(s['generated'], 'genome')} (median {s['median_length']:,.0f} bases) generated in "
          f"{s['generation_seconds']:.0f} s; {s['passed']} passed every stage ({s['clusters']} clusters); "
          f"kept {s['kept']}")
    print(f"{'stage':14s} {'passing':>8s} {'so far':>8s}")
    for row in s["funnel"]:
        mark = "" if row["stage"] in s["checked"] else "  (not checked: no --reference)"
        print(f"{row['stage']:14s} {row['passing']:8d} {row['passing_so_far']:8d}{mark}")
    return 0
