"""Simulate a metagenome: Illumina reads from reference genomes at known abundances, with the truth.

Each input file is one genome (all its records: chromosomes, plasmids), named after the file
(``E.Coli__DH1.fasta.gz`` -> ``E.Coli__DH1``).  Genome abundances (fractions of cells) come from a
distribution (``--abundance lognormal``, the default, or uniform, exponential, halfnormal) or
from a TSV of ``genome, abundance``; a genome then gives reads in proportion to abundance × length,
spread over its records by length.  Reads are made by InSilicoSeq with a real instrument error
model (``--model novaseq`` 151 bp, ``hiseq`` 126 bp, ``miseq`` 301 bp, ``nextseq``) or without
errors (``--model perfect``, or ``basic`` for a flat error model).

Writes to --out (atomically): ``reads_R1.fastq.gz`` and ``reads_R2.fastq.gz`` (pairs; with
``--single`` only ``reads.fastq.gz``), ``truth.tsv`` (read, genome, record, taxon), ``abundance.tsv``
(genome, taxon, abundance, length, reads) and ``manifest.json``.  Reads are named ``S0R{i}/1`` and
``/2``; ``--taxa`` maps genomes to taxa (default: the genome name).

Example:
  genolm simulate ../shared/data/genomes/bacteria/*.fasta.gz --reads 200000 --out mock --seed 1
  genolm simulate a.fna b.fna --abundance abund.tsv --model miseq --read-length 150 --single --out mock
"""

from __future__ import annotations

import argparse
import os

from genolm.commands.options import add_no_progress, add_seed
from genolm.io.progress import plural
from genolm.metagenome.simulate import MODELS, MODES, SimulateArgs, simulate

ARGS = SimulateArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("genomes", nargs="+", metavar="GENOME", help="one FASTA per genome (any compression)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--reads", type=int, default=100000, help="reads to simulate; a pair is two (default: 100000)")
    p.add_argument("--model", default="novaseq", choices=(*MODELS, *MODES),
                   help="InSilicoSeq error model, or perfect / basic (default: novaseq)")
    p.add_argument("--abundance", default="lognormal",
                   help="lognormal | uniform | exponential | halfnormal, or a TSV of genome, abundance")
    p.add_argument("--taxa", default=None, help="TSV of genome, taxon (default: taxon = genome name)")
    p.add_argument("--single", action="store_true", help="single reads (the first read of each pair)")
    p.add_argument("--read-length", type=int, default=None, help="trim reads to this length (3' end)")
    add_seed(p, "reads, their errors and positions")
    p.add_argument("--cpus", type=int, default=min(4, os.cpu_count() or 1), help="InSilicoSeq processes")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    manifest = simulate(SimulateArgs.from_namespace(args))
    print(f"{args.out}: {manifest['reads']:,} reads from {plural(len(manifest['genomes']), 'genome')} "
          f"({args.model}{', single' if args.single else ', paired'}); truth in truth.tsv")
    return 0
