"""Turn FASTA/FASTQ files into a tokenized, windowed training corpus.

Reads any number of sequence files (plain, gz, bz2, xz or zst; detected from their bytes),
tokenizes every record, and writes memory-mapped token shards, a ``records.parquet`` table (where
every token came from) and a ``manifest.json`` (tokenizer, inputs, samples, counts, options).
Records are assigned to train or validation whole, by a seeded hash of file and id, so a genome
never sits on both sides.  Re-running with the same inputs and options reuses the result.

Example:
  genolm prepare data/lambda.fasta.gz data/camisim_reads.fasta.gz --out corpus \\
      --tokenizer kmer:6 --window 512 --val-fraction 0.1
  genolm prepare --samples samples.tsv --out ocean --tokenizer char   # files from the sheet
  genolm prepare phages.fna --rotate-to phix174.fna --out phix --window 8192   # circular genomes
  genolm prepare phages.fna --rotate-to phix174.fna --annotation phix174.gff --synonymous-copies 8 \\
      --out phix8 --window 8192                  # ... each followed by 8 synonymously recoded copies
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_no_progress
from genolm.data.prepare import PrepareArgs, prepare
from genolm.io.progress import plural

ARGS = PrepareArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="FASTA/FASTQ files (any compression)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--tokenizer", default="char",
                   help="char | kmer:K | kmer:K:STRIDE | codon | aa | bpe:VOCAB")
    p.add_argument("--alphabet", default="dna", help="dna | rna | protein")
    p.add_argument("--window", type=int, default=1024, help="tokens per training window")
    p.add_argument("--stride", type=int, default=None, help="tokens between window starts (default: window)")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="fraction of records (--split region: of every record's bases) held out; "
                        "1 = an evaluation-only corpus")
    p.add_argument("--split", default="record", choices=("record", "region"),
                   help="record: each record goes whole to train or validation (by a seeded hash of "
                        "its id); region: the last --val-fraction of every record validates, the "
                        "rest trains (an unseen region of every genome)")
    p.add_argument("--samples", default=None, help="sample sheet (TSV/CSV: sample_id, path, metadata…)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the window order")
    p.add_argument("--unknown", default="error", choices=("error", "n", "skip"),
                   help="characters outside the alphabet: stop with an error, replace with N/X, "
                        "or skip the record")
    p.add_argument("--case", default="fold", choices=("fold", "keep"),
                   help="fold soft-masked lowercase to uppercase, or keep it as separate tokens")
    p.add_argument("--workers", type=int, default=0,
                   help="processes; files are spread over them, and the output is the same for any "
                        "number (default: 0 = one per CPU core)")
    p.add_argument("--rotate-to", metavar="FASTA",
                   help="circular genomes (phages, plasmids): turn every record to the strand and first base "
                        "where this reference genome starts, so the model learns one gene order from one place")
    p.add_argument("--annotation", metavar="GFF",
                   help="the --rotate-to reference's genes (GFF3 CDS), for --synonymous-copies")
    p.add_argument("--synonymous-copies", type=int, default=0, metavar="N",
                   help="follow every training genome with N copies of it whose reference genes are synonymously "
                        "recoded (proteins unchanged; codons read by one gene only, starts, stops and ribosome "
                        "sites left alone): a set of near-identical genomes then shows a model where a genome "
                        "may vary; validation genomes get none (default: 0)")
    p.add_argument("--synonymous-rate", type=float, default=0.08, metavar="R",
                   help="share of a copy's synonymous sites changed (default: 0.08, about 2%% of a phiX174 "
                        "genome's bases)")
    p.add_argument("--shard-tokens", type=int, default=1 << 30, help="maximum tokens per shard file")
    p.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    opts = PrepareArgs.from_namespace(args)
    manifest = prepare(opts)
    s = manifest["splits"]
    letters = "residues" if manifest["tokenizer"].get("alphabet") == "protein" else "bases"
    print(f"{manifest['out']}: {plural(manifest['totals']['records'], 'record')}, "
          f"{manifest['totals']['bases']:,} {letters} -> train {s['train']['tokens']:,} tokens "
          f"({s['train']['windows']:,} windows), val {s['val']['tokens']:,} tokens "
          f"({s['val']['windows']:,} windows)" + (" [up to date]" if manifest.get("reused") else ""))
    return 0


# ----------------------------------------------------------------------------- the job
