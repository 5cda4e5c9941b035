"""Bin a metagenome: group reads or contigs by organism without labels.

Each sequence becomes a vector: its language-model embedding (``--model``, mean-pooled over both
strands), its tetranucleotide composition (``--features tnf``: canonical 4-mer frequencies, centred
log-ratio), or both side by side (``both``, each block scaled to the same total variance);
``--abundance`` adds one more block, the log depth of each sequence's genome: ``kmer`` estimates
it from the input itself (the median count of the sequence's 21-mers among all the input's —
organisms at different depths separate even where their composition is alike), or a TSV gives
it (contig coverage per sample, as from a read mapper).  The
vectors are reduced by PCA, mapped by UMAP to a few dimensions where organisms form dense groups
(single reads are too noisy for density clustering without it), and clustered by HDBSCAN, which
finds the number of organisms itself and leaves what belongs to no dense group unbinned.  UMAP and
HDBSCAN run on a random sample of ``--sample`` sequences; every sequence then takes the bin of its
nearest sampled neighbours in PCA space (majority of ``--neighbours``; noise votes too), so memory
and time grow linearly with the input.

Writes to --out (atomically): ``bins.tsv`` (id, file, length, bin; ``unbinned`` for none),
``bins/BIN.fasta`` (one per bin, and ``unbinned.fasta``), ``map.tsv`` and ``map.png`` (the UMAP of the clustered
sample, coloured by bin and, with ``--truth``, by genome) and ``summary.json`` (bins, sizes,
options, sequences/s).  With ``--truth`` (TSV with a read and a genome column: ``genolm simulate``'s
truth.tsv, or CAMISIM's reads_mapping.tsv; a read's /1 or /2 suffix is ignored) it also scores the bins —
ARI, AMI, base-weighted precision, recall and F1, per-genome completeness and contamination —
and, for comparison in the same run, the composition baseline (``tnf``, same clustering), in
``metrics.json``.

Example:
  genolm simulate genomes/*.fasta.gz --reads 100000 --single --out mock
  genolm bin mock/reads.fastq.gz --features tnf --truth mock/truth.tsv --out bins_tnf
  genolm bin mock/reads.fastq.gz --model run --truth mock/truth.tsv --out bins_lm
  genolm bin contigs.fasta --abundance depth.tsv --out bins_cov   # depth.tsv: id, depth per sample
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.io.progress import plural
from genolm.metagenome.binning import FEATURES, BinArgs, run

ARGS = BinArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ of reads or contigs (any compression)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--model", default=None, help="genolm run or local Hugging Face model folder (for embeddings)")
    p.add_argument("--features", default=None, choices=FEATURES,
                   help="embedding | tnf | both (default: embedding with --model, else tnf)")
    p.add_argument("--abundance", default=None, metavar="kmer|TSV",
                   help="add each sequence's abundance to its features: kmer (the median count of its 21-mers "
                        "in the input: its genome's depth) or a TSV of id and one or more depth columns "
                        "(e.g. per-sample contig coverage); log-scaled")
    p.add_argument("--min-length", type=int, default=0, help="leave out sequences shorter than this")
    p.add_argument("--truth", default=None, help="TSV: read (or id) and genome columns; adds metrics.json")
    p.add_argument("--sample", type=int, default=50000, help="sequences HDBSCAN clusters (default: 50000)")
    p.add_argument("--min-cluster-size", type=int, default=None,
                   help="smallest bin, in sampled sequences (default: 1%% of the sample, at least 10)")
    p.add_argument("--neighbours", type=int, default=5, help="sampled neighbours that vote a bin (default: 5)")
    p.add_argument("--dims", type=int, default=16, help="PCA dimensions (default: 16)")
    p.add_argument("--umap-dims", type=int, default=2, help="UMAP dimensions clustered (default: 2)")
    add_seed(p, "sample and the clustering")
    add_device(p, "embeddings")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    summary = run(BinArgs.from_namespace(args))
    line = f"{args.out}: {plural(summary['sequences'], 'sequence')} -> {plural(summary['bins'], 'bin')} " \
           f"({summary['binned']:.1%} binned), {summary['sequences_per_s']:,.0f} sequences/s"
    print(line)
    if "metrics" in summary:
        print(f"{'features':10s} {'ARI':>6s} {'AMI':>6s} {'prec.':>6s} {'recall':>6s} {'F1':>6s} {'bins':>5s}")
        for name, m in summary["metrics"].items():
            print(f"{name:10s} {_num(m['ari'])} {_num(m['ami'])} {_num(m['precision'])} {_num(m['recall'])} "
                  f"{_num(m['f1'])} {m['n_bins']:5d}")
    return 0


def _num(x) -> str:
    return f"{x:6.3f}" if x is not None else "     -"
