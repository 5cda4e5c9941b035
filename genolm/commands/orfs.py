"""Find open reading frames or call genes; write a TSV table and, optionally, their proteins.

--method simple: every ORF of at least --min-aa codons from a start (--starts ATG, any start codon
of --table, or "any" codon after a stop) to the next in-frame stop, on both strands.
--method prodigal: gene calls by Prodigal (pyrodigal); --mode auto uses its metagenomic models when
the input totals under 100 kb and otherwise trains on the input (single mode, >= 20 kb).

TSV columns: sequence_id orf_id start end strand frame length_nt length_aa partial score.
start/end are 0-based, half-open, on the forward strand, stop codon included (BED style); frame is
the offset (0-2) of the first codon on its own strand; partial is Prodigal's two digits (1 = runs
off the left / right end); score is Prodigal's gene score (NA for --method simple).  Outputs are
written atomically (an error leaves none behind); a .gz name compresses.

Example:
  genolm orfs data/lambda.fasta.gz --method prodigal --out genes.tsv --proteins genes.faa
  genolm orfs contigs.fa --min-aa 100 --starts table --table 4 > orfs.tsv
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from genolm.bio.codon_tables import TABLE_IDS
from genolm.bio.orfs import ORF, START_MODES, call_genes, find_orfs, gene_finder
from genolm.errors import GenolmError
from genolm.io.atomic import atomic_file
from genolm.io.compression import compression_for_name, open_write
from genolm.io.progress import plural
from genolm.io.seqio import SeqRecord, binary_stdout, format_fasta, read_records

COLUMNS = ("sequence_id", "orf_id", "start", "end", "strand", "frame", "length_nt", "length_aa",
           "partial", "score")
MODES = {"auto": None, "meta": True, "single": False}  # --mode -> gene_finder(meta=...)


@dataclass
class OrfsArgs:
    """Options of ``genolm orfs``; each checks itself and names its flag when wrong."""

    input: str
    method: str = "simple"
    table: int | None = None  # None: 11, or all of Prodigal's models in --mode meta
    min_aa: int = 30
    starts: str = "ATG"
    mode: str = "auto"
    unknown: str = "error"
    out: str | None = None
    proteins: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("simple", "prodigal"):
            raise GenolmError("unknown --method", expected="simple | prodigal", found=repr(self.method))
        if self.mode not in MODES:
            raise GenolmError("unknown --mode", expected=" | ".join(MODES), found=repr(self.mode))
        if self.starts not in START_MODES:
            raise GenolmError("unknown --starts", expected=" | ".join(START_MODES), found=repr(self.starts))
        if self.min_aa < 1:
            raise GenolmError("--min-aa must be at least 1", found=str(self.min_aa))
        # Checks --table (and, for simple, a table whose stops depend on context) before reading.
        try:
            find_orfs("", self.table or 11, min_aa=self.min_aa, starts=self.starts)
        except GenolmError as err:
            raise GenolmError(f"--table {self.table}: {err.message}", expected=err.expected,
                              found=err.found, hint=err.hint) from None


ARGS = OrfsArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="FASTA/FASTQ of DNA (any compression)")
    parser.add_argument("--method", default="simple", choices=("simple", "prodigal"),
                        help="simple: start-to-stop ORFs; prodigal: gene calls by Prodigal")
    parser.add_argument("--table", type=int, default=None,
                        help="NCBI genetic code: " + ", ".join(map(str, TABLE_IDS)) + " (default 11; "
                             "Prodigal's metagenomic mode, like prodigal -p meta, then chooses among "
                             "all its models, tables 11 and 4)")
    parser.add_argument("--min-aa", type=int, default=30, help="shortest ORF/gene, in amino acids")
    parser.add_argument("--starts", default="ATG", choices=START_MODES,
                        help="simple: start codons (ATG, those of --table, or any codon)")
    parser.add_argument("--mode", default="auto", choices=tuple(MODES),
                        help="prodigal: meta (pre-trained models), single (train on input), or auto")
    parser.add_argument("--unknown", default="error", choices=("error", "n"),
                        help="characters that are not nucleotide codes: fail, or read as N")
    parser.add_argument("--out", default=None, help="output TSV (default: stdout)")
    parser.add_argument("--proteins", default=None, help="also write the proteins as FASTA here")


def setup(args: argparse.Namespace) -> int:
    opts = OrfsArgs(input=args.input, method=args.method, table=args.table, min_aa=args.min_aa,
                    starts=args.starts, mode=args.mode, unknown=args.unknown, out=args.out,
                    proteins=args.proteins)
    faa_ctx = _output(opts.proteins) if opts.proteins else contextlib.nullcontext()
    records = genes = 0
    with _output(opts.out) as tsv, faa_ctx as faa:
        tsv.write(("\t".join(COLUMNS) + "\n").encode())
        for seq_id, orfs in _calls(opts):
            records, genes = records + 1, genes + len(orfs)
            for i, orf in enumerate(orfs, 1):
                orf_id = f"{seq_id}_{i}"
                tsv.write(_row(seq_id, orf_id, orf).encode())
                if faa is not None:
                    where = f"{seq_id}:{orf.start}-{orf.end}({'+' if orf.strand > 0 else '-'})"
                    faa.write(format_fasta(SeqRecord(orf_id, orf.protein, None,
                                                     f"{where} partial={orf.partial}")))
    if opts.out:  # stdout holds the table otherwise
        what = "gene" if opts.method == "prodigal" else "ORF"
        print(f"{opts.out}: {plural(genes, what)} in {plural(records, 'record')} ({opts.method}"
              + (f"; proteins in {opts.proteins}" if opts.proteins else "") + ")")
    return 0


def _calls(opts: OrfsArgs) -> Iterator[tuple[str, list[ORF]]]:
    """(sequence id, ORFs) per input record; errors get the file and record added."""
    alphabet = "nucleotide" if opts.unknown == "error" else None  # the reader names file and line
    records = read_records(opts.input, alphabet=alphabet)
    finder = None
    if opts.method == "prodigal":
        records = list(records)  # training (or choosing meta mode) looks at all of the input
        try:
            finder = gene_finder([r.seq for r in records], meta=MODES[opts.mode], table=opts.table,
                                 min_aa=opts.min_aa, unknown=opts.unknown)
        except GenolmError as err:
            raise err.with_context(file=opts.input) from None
    for rec in records:
        try:
            if finder is None:
                yield rec.id, find_orfs(rec.seq, opts.table or 11, min_aa=opts.min_aa, starts=opts.starts,
                                        unknown=opts.unknown)
            else:
                yield rec.id, call_genes(rec.seq, finder=finder, unknown=opts.unknown)
        except GenolmError as err:
            raise err.with_context(file=opts.input, record=rec.id) from None


def _row(seq_id: str, orf_id: str, orf: ORF) -> str:
    score = "NA" if orf.score is None else f"{orf.score:.2f}"
    strand = "+" if orf.strand > 0 else "-"
    return (f"{seq_id}\t{orf_id}\t{orf.start}\t{orf.end}\t{strand}\t{orf.frame}\t{orf.length_nt}\t"
            f"{orf.length_aa}\t{orf.partial}\t{score}\n")


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[BinaryIO]:
    """A binary stream to ``path`` (atomic, compressed by suffix) or to stdout when None."""
    if path is None:
        out = binary_stdout()
        yield out
        out.flush()
        return
    with atomic_file(path) as tmp, open_write(tmp, compression=compression_for_name(path)) as fh:
        yield fh
