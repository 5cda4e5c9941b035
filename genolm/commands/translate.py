"""Translate DNA or RNA to protein with any NCBI genetic code, or transcribe it to mRNA.

Reads FASTA/FASTQ (plain, gz, bz2, xz or zst) and writes FASTA to --out (atomically; a .gz name
compresses) or to stdout.  Frames 1, 2, 3 start 0, 1, 2 bases into the sequence; -1, -2, -3 the
same on the reverse complement; "all" writes the six frames as ID_frame+1 ... ID_frame-3.
Ambiguous codons translate to the one amino acid all their readings give (GGN -> G), else B, Z, J
or X (as Biopython does).
--to mrna writes the transcript (T -> U) of strand +1 (--frame 1) or -1 (--frame -1).

Example:
  genolm translate data/lambda.fasta.gz --table 11 --frame all --out lambda.6frames.faa
  genolm translate cds.fna --to-stop > proteins.faa
  genolm translate genes.fna --to mrna --frame -1 --out genes.antisense.fa
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Iterator

from genolm.bio.codon import translate
from genolm.bio.codon_tables import TABLE_IDS
from genolm.bio.seq import reverse_complement, transcribe
from genolm.errors import GenolmError
from genolm.io.progress import plural
from genolm.io.seqio import SeqRecord, binary_stdout, read_records, write_fasta

FRAMES = ("1", "2", "3", "-1", "-2", "-3", "all")


@dataclass
class TranslateArgs:
    """Options of ``genolm translate``; each checks itself and names its flag when wrong."""

    input: str
    table: int = 11
    frame: str = "1"
    to_stop: bool = False
    to: str = "protein"
    unknown: str = "error"
    out: str | None = None

    def __post_init__(self) -> None:
        if self.frame not in FRAMES:
            raise GenolmError("unknown --frame", expected=" | ".join(FRAMES), found=repr(self.frame))
        if self.to not in ("protein", "mrna"):
            raise GenolmError("unknown --to", expected="protein | mrna", found=repr(self.to))
        if self.to == "mrna" and self.frame not in ("1", "-1"):
            raise GenolmError("--to mrna transcribes a whole strand", expected="--frame 1 or -1",
                              found=f"--frame {self.frame}")
        if self.to == "mrna" and self.to_stop:
            raise GenolmError("--to-stop applies to proteins only", hint="drop --to-stop with --to mrna")
        # Checks --table (and --to-stop with a context-dependent stop table) before any input is read.
        try:
            translate("", self.table, to_stop=self.to_stop)
        except GenolmError as err:
            raise GenolmError(f"--table {self.table}: {err.message}", expected=err.expected,
                              found=err.found, hint=err.hint) from None

    @property
    def frames(self) -> list[int]:
        return [1, 2, 3, -1, -2, -3] if self.frame == "all" else [int(self.frame)]


ARGS = TranslateArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="FASTA/FASTQ of DNA or RNA (any compression)")
    parser.add_argument("--table", type=int, default=11,
                        help="NCBI genetic code: " + ", ".join(map(str, TABLE_IDS)))
    parser.add_argument("--frame", default="1", metavar="|".join(FRAMES),
                        help="reading frame; negative = reverse complement; all = six frames")
    parser.add_argument("--to-stop", action="store_true", help="end each protein before its first stop")
    parser.add_argument("--to", default="protein", choices=("protein", "mrna"),
                        help="protein (translate) or mrna (transcribe)")
    parser.add_argument("--unknown", default="error", choices=("error", "n"),
                        help="characters that are not nucleotide codes: fail, or read as N")
    parser.add_argument("--out", default=None, help="output FASTA (default: stdout)")


def setup(args: argparse.Namespace) -> int:
    opts = TranslateArgs(input=args.input, table=args.table, frame=args.frame, to_stop=args.to_stop,
                         to=args.to, unknown=args.unknown, out=args.out)
    counts = {"records": 0, "written": 0}
    records = _translated(opts, counts)
    if opts.out:
        write_fasta(records, opts.out)  # atomic: an error leaves no output behind
        what = "mRNA" if opts.to == "mrna" else "protein"
        print(f"{opts.out}: {plural(counts['written'], what + ' sequence')} from {plural(counts['records'], 'record')} "
              f"(frame {opts.frame}" + ("" if opts.to == "mrna" else f", table {opts.table}") + ")")
    else:
        out = binary_stdout()
        write_fasta(records, out)
        out.flush()
    return 0


def _translated(opts: TranslateArgs, counts: dict | None = None) -> Iterator[SeqRecord]:
    """Output records for every input record and frame (``counts``: records read, written)."""
    counts = {"records": 0, "written": 0} if counts is None else counts
    alphabet = "nucleotide" if opts.unknown == "error" else None  # the reader names file and line
    for rec in read_records(opts.input, alphabet=alphabet):
        counts["records"] += 1
        try:
            for out in _one(rec, opts):
                counts["written"] += 1
                yield out
        except GenolmError as err:
            raise err.with_context(file=opts.input, record=rec.id) from None


def _one(rec: SeqRecord, opts: TranslateArgs) -> Iterator[SeqRecord]:
    rc = None
    for frame in opts.frames:
        if frame < 0 and rc is None:
            rc = reverse_complement(rec.seq, unknown=opts.unknown)
        strand = rec.seq if frame > 0 else rc
        if opts.to == "mrna":
            yield SeqRecord(rec.id, transcribe(strand, unknown=opts.unknown), None,
                            f"mRNA strand={'+' if frame > 0 else '-'}")
            continue
        protein = translate(strand, opts.table, frame=abs(frame) - 1, to_stop=opts.to_stop,
                            unknown=opts.unknown)
        name = f"{rec.id}_frame{frame:+d}" if len(opts.frames) > 1 else rec.id
        yield SeqRecord(name, protein, None, f"frame={frame:+d} table={opts.table}")
