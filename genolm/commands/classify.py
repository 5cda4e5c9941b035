"""Classify reads: assign each to one of the reference genomes (and its taxon), or "unassigned".

Two methods:

- ``embedding`` (with ``--model``): each reference genome is cut into ``--ref-fragments`` pieces of
  the reads' length at random places; reads and pieces are embedded (mean-pooled over both
  strands); a read takes the genome most of its ``--neighbours`` nearest pieces (cosine) come from,
  when that majority is at least ``--threshold`` of the votes; likewise its taxon.
- ``kmer``: exact canonical k-mer lookup (``--k``, default 12; ``genolm.bio.kmer_index``): a read
  takes the reference that most of its reference-specific k-mers name, and a taxon from its
  taxon-specific k-mers when no reference is clear; ``--threshold`` is then the winner's share of
  the read's k-mers (default 0.1: at k = 12 a read from an organism that is not among the
  references shares ~1% of its k-mers with a bacterial genome by chance, while a read of a
  reference, sequencing errors and all, shares most of them).

References are FASTA files, one genome per file, named after the file (``E.coli_K12.fasta.gz`` →
``E.coli_K12``), or with ``--per-record`` one reference per record, named by its id (a 16S
database); ``--taxa`` maps those names to taxa (TSV name, taxon; default: the name itself).

The two mates of a pair (``X/1`` and ``X/2``, in one file or two) are classified together — their
k-mers pooled, their embeddings averaged — and both get the pair's answer (``--no-pairs``: each
on its own).

Writes ``--out`` (TSV: id, length, genome, taxon, score; atomically).  With ``--truth`` (the
read → genome table of ``genolm simulate`` or CAMISIM, or a read → taxon table; a read whose
genome or taxon is not among the references should be unassigned) it scores genome and taxon calls — accuracy (unassigned counts as
wrong), share assigned, precision, per-genome precision/recall/F1, ARI, AMI — and in the same run
the k-mer baseline, into ``OUT.metrics.json`` beside ``--out``.

Example:
  genolm simulate refs/*.fasta.gz --reads 20000 --single --out mock
  genolm classify mock/reads.fastq.gz --references refs/*.fasta.gz --model run --truth mock/truth.tsv --out calls.tsv
  genolm classify reads.fastq.gz --references refs/*.fasta.gz --taxa species.tsv --out calls.tsv   # k-mers only
  genolm classify reads.fastq.gz --references strains/*.fasta.gz --k 31 --ties em --out strains.tsv
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.io.progress import plural
from genolm.metagenome.classify import METHODS, ClassifyArgs, run

ARGS = ClassifyArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ of reads (any compression)")
    p.add_argument("--references", nargs="+", required=True, metavar="REF",
                   help="reference genomes: FASTA files, one genome per file")
    p.add_argument("--out", required=True, help="output TSV (id, length, genome, taxon, score)")
    p.add_argument("--model", default=None, help="genolm run or Hugging Face folder (method embedding)")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="embedding (default with --model) or kmer (default without)")
    p.add_argument("--per-record", action="store_true",
                   help="every record of the reference files is a reference of its own, named by its id "
                        "(e.g. a 16S database); --taxa then maps record ids to taxa")
    p.add_argument("--taxa", default=None, help="TSV of genome, taxon (default: taxon = genome name)")
    p.add_argument("--truth", default=None,
                   help="TSV with a read column and a genome column (genome and taxon scored) or a taxon "
                        "column (taxon scored): score the calls, and the k-mer baseline")
    p.add_argument("--threshold", type=float, default=None,
                   help="least share of the votes that assigns (default: 0.5 embedding, 0.1 kmer)")
    p.add_argument("--k", type=int, default=12, help="k-mer length of the k-mer method (default: 12)")
    p.add_argument("--ties", choices=("none", "em"), default="none",
                   help="k-mer method, a read tied between references: none (no genome; their shared taxon, "
                        "if any) or em (the most abundant of them, abundance by EM) (default: none)")
    p.add_argument("--neighbours", type=int, default=10, help="nearest reference pieces that vote (default: 10)")
    p.add_argument("--ref-fragments", type=int, default=2000,
                   help="pieces embedded per reference genome (default: 2000)")
    p.add_argument("--fragment-length", type=int, default=None,
                   help="length of those pieces (default: the reads' median length)")
    p.add_argument("--no-pairs", action="store_true",
                   help="classify each mate on its own (default: mates X/1 and X/2 are classified together)")
    add_seed(p, "reference fragments")
    add_device(p, "embeddings")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    summary = run(ClassifyArgs.from_namespace(args))
    print(f"{args.out}: {plural(summary['reads'], 'read')}, {summary['assigned']:.1%} assigned to one of "
          f"{plural(summary['references'], 'reference')} ({summary['method']}), {summary['reads_per_s']:,.0f} reads/s")
    if summary.get("abundance"):
        top = sorted(summary["abundance"].items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{name} {share:.1%}" for name, share in top[:8] if share > 0)
        print(f"abundance (k-mer calls, EM): {shown}" + (f" … ({len(top) - 8} more)" if len(top) > 8 else ""))
    if "metrics" in summary:
        print(f"{'method':10s} {'level':7s} {'accuracy':>8s} {'assigned':>8s} {'precision':>9s} {'macro F1':>8s} {'ARI':>6s}")
        for method, levels in summary["metrics"].items():
            for level, m in levels.items():
                ari = f"{m['ari']:6.3f}" if m["ari"] is not None else "     -"
                print(f"{method:10s} {level:7s} {m['accuracy']:8.3f} {m['assigned']:8.3f} {m['precision']:9.3f} "
                      f"{m['macro_f1']:8.3f} {ari}")
    return 0
