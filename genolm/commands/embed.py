"""Embed sequences with a trained model: one Parquet row per sequence, one vector per row.

Reads FASTA/FASTQ files (any compression) or the files of a sample sheet, streams them in chunks
(bounded memory for inputs of any size), embeds each chunk in batches of similar-length
sequences, and writes ``--out`` (Parquet, written to a temporary file and renamed): ``id``,
``file``, ``length`` (bases), ``embedding`` (fixed-size list of float32), plus ``sample`` and the
sheet's metadata columns with ``--samples``.  The file's metadata records the model, pooling,
layer and strand, so a vector can always be traced to how it was made.

``--model`` is a genolm run (``genolm pretrain``) or a local Hugging Face model folder (ESM such
as the Nucleotide Transformer, or BERT); nothing is downloaded.  Pooling, layers, strands and long
sequences: see ``genolm.infer.embedding``.  Several GPUs: ``torchrun --nproc-per-node N -m genolm embed …``
(each process embeds every N-th chunk; rank 0 writes the one output file, rows in input order).

Example:
  genolm embed --model run data/lambda.fasta.gz data/camisim_reads.fasta.gz --out emb.parquet
  genolm embed --model nt-50m/ reads.fq.gz --out nt.parquet --pool mean --layer 6 --strand both
  genolm embed --model run --samples data/tara/samples.tsv --out tara.parquet   # with metadata
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress
from genolm.infer.embedding_table import EmbedArgs, run
from genolm.io.progress import plural

ARGS = EmbedArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from genolm.infer.embedding import POOLS, STRANDS

    p.add_argument("inputs", nargs="*", metavar="INPUT", help="FASTA/FASTQ files (any compression)")
    p.add_argument("--model", required=True, help="genolm run directory or local Hugging Face model folder")
    p.add_argument("--out", required=True, help="output Parquet file (replaced atomically)")
    p.add_argument("--samples", default=None, help="sample sheet: embed its files, add its metadata columns")
    p.add_argument("--pool", default="mean", choices=POOLS,
                   help="mean | max | last (causal models) | cls (HF models with <cls>) (default: mean)")
    p.add_argument("--layer", type=int, default=None,
                   help="residual stream after block L (0 = token embeddings); default: the model's output")
    p.add_argument("--strand", default="forward", choices=STRANDS,
                   help="both: average each sequence with its reverse complement (default: forward)")
    p.add_argument("--batch-tokens", type=int, default=None,
                   help="tokens per batch, padding included (default: 65536 on GPU, 16384 on CPU)")
    p.add_argument("--unknown", default="error", choices=("error", "n", "skip"),
                   help="characters outside the model's alphabet: stop with an error, replace them with "
                        "N (X for protein), or skip the record (default: error)")
    p.add_argument("--chunk", type=int, default=4096, help="sequences read and sorted at a time (default: 4096)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (faster on a GPU for many sequences; compiling takes a minute)")
    add_device(p)
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(EmbedArgs.from_namespace(args))
    if r is not None:  # rank 0 (or the only process)
        print(f"{r['out']}: {plural(r['rows'], 'sequence')}, {r['dim']}-dim {r['pool']} embeddings "
              f"({r['kind']}, layer {r['layer']}, strand {r['strand']}); "
              f"{r['seconds']:.1f} s, {r['rows'] / max(r['seconds'], 1e-9):,.0f} sequences/s"
              + (f" on {r['processes']} processes" if r["processes"] > 1 else ""))
    return 0
