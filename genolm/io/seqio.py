"""Streaming FASTA/FASTQ readers and writers, strict about malformed input.

Two layers, as in Biopython and pyfastx: fast C parsers underneath (pyfastx, dnaio, ISA-L; see
:mod:`genolm.io.parsers`) and, on top, every check they do not make: text before the first record,
an empty file or record, binary junk, a truncated compressed stream, characters outside the chosen
alphabet, duplicate ids.  All raise :class:`GenolmError` with file, line, record, expected vs found,
and a hint; the exact line is found by re-reading the file only when something is wrong.

:func:`read_records` yields one :class:`SeqRecord` at a time; :func:`read_batches` yields a few MB
of records at a time as plain lists, for bulk work (tokenizing millions of short reads).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
>>> write_fasta([("a", "ACGTacgt"), ("b", "NNAC")], p)
>>> [r.seq for r in read_records(p)]
['ACGTacgt', 'NNAC']
>>> [r.seq for r in read_records(p, case="upper")]
['ACGTACGT', 'NNAC']
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from genolm.errors import GenolmError, show
from genolm.io.alphabet import Alphabet, get_alphabet
from genolm.io.atomic import atomic_file
from genolm.io.compression import compression_for_name, detect_compression, open_write
from genolm.io.parsers import locate, raw_columns, sniff_format

__all__ = ["SeqRecord", "Batch", "read_records", "read_batches", "sniff_format", "alphabet_error",
           "write_fasta", "write_fastq", "format_fasta", "format_fastq"]


class SeqRecord(NamedTuple):
    """One sequence: ``id`` (first word of the header), ``seq``, ``qual`` (FASTQ only), ``description``."""

    id: str
    seq: str
    qual: str | None = None
    description: str = ""


class Batch(NamedTuple):
    """Consecutive records of one file: ``first`` is the index of ``ids[0]`` in the file."""

    first: int
    ids: list[str]
    seqs: list[str]


# ----------------------------------------------------------------------------- reading


def read_records(
    path: str | os.PathLike,
    *,
    alphabet: str | Alphabet | None = "dna",
    case: str = "preserve",
    unique_ids: bool = False,
    allow_empty: bool = False,
) -> Iterator[SeqRecord]:
    """Stream the records of a FASTA or FASTQ file (any compression), checked as they go.

    ``alphabet``: ``dna`` (ACGT + IUPAC codes), ``rna``, ``protein``, ``nucleotide`` or None (no
    check). ``case``: ``preserve`` keeps soft-masked lowercase, ``upper`` folds it. ``unique_ids``:
    duplicate ids are an error (checked with 8 bytes per record, reported at the end of the file).
    """
    if case not in ("preserve", "upper"):
        raise GenolmError("unknown case option", expected="preserve | upper", found=repr(case))
    alpha = get_alphabet(alphabet)
    path = Path(path)
    compression = detect_compression(path)
    fmt = sniff_format(path, compression)
    hashes: list[int] = []
    index = 0
    for cols in raw_columns(path, compression, fmt):
        quals = cols.quals or itertools.repeat(None)
        for name, seq, qual, desc in zip(cols.ids, cols.seqs, quals, cols.descs):
            if not name or not (seq or allow_empty):
                raise _structure_error(path, fmt, index, name)
            if alpha is not None:
                try:
                    bad = alpha.first_invalid(seq.encode("ascii"))
                except UnicodeEncodeError as err:
                    bad = err.start
                if bad >= 0:
                    raise alphabet_error(path, fmt, index, name, seq, alpha, bad)
            if case == "upper":
                seq = seq.upper()
            yield SeqRecord(name, seq, qual, desc.strip() if desc else "")
            index += 1
        if unique_ids:
            hashes.extend(map(hash, cols.ids))
    if unique_ids and hashes:
        _check_unique(path, compression, fmt, hashes)


def read_batches(path: str | os.PathLike, *, max_bases: int = 1 << 20, unique_ids: bool = True,
                 progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
    """Stream a file as batches of about ``max_bases`` bases, for bulk work such as tokenizing.

    Only the structure is checked here (an id and a non-empty sequence per record, unique ids);
    the alphabet is left to the consumer, which checks a whole batch in one pass and can call
    :func:`alphabet_error` for the exact line.  No Python work per record beyond a few list
    operations, which is what makes short reads fast.  ``progress(n)`` is told of every n bytes
    read from the file (compressed bytes: the unit of its size on disk).
    """
    path = Path(path)
    compression = detect_compression(path)
    fmt = sniff_format(path, compression)
    hashes: list[int] = []
    index = 0  # file index of ids[0]
    ids: list[str] = []
    seqs: list[str] = []
    for cols in raw_columns(path, compression, fmt, progress=progress):
        if not all(cols.ids) or not all(cols.seqs):
            bad = next(i for i, (n, s) in enumerate(zip(cols.ids, cols.seqs)) if not n or not s)
            raise _structure_error(path, fmt, index + len(ids) + bad, cols.ids[bad])
        if unique_ids:
            hashes.extend(map(hash, cols.ids))
        ids, seqs = ids + cols.ids, seqs + cols.seqs  # the previous chunk's short tail first
        ends = np.cumsum(np.fromiter(map(len, seqs), np.int64, len(seqs)))
        lo = 0
        while True:
            # A batch ends with the first record that brings it to max_bases.
            hi = int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + max_bases, side="left")) + 1
            if hi > len(ids):
                break
            yield Batch(index + lo, ids[lo:hi], seqs[lo:hi])
            lo = hi
        index += lo
        ids, seqs = ids[lo:], seqs[lo:]
    if ids:
        yield Batch(index, ids, seqs)
    if unique_ids and hashes:
        _check_unique(path, compression, fmt, hashes)


def _structure_error(path: Path, fmt: str, index: int, name: str) -> GenolmError:
    if not name:
        return GenolmError("header without an id", file=path, line=locate(path, fmt, index),
                           expected="'>ID [description]'", found=repr(">"),
                           hint="give every record an identifier")
    return GenolmError("record has no sequence", file=path, line=locate(path, fmt, index),
                       record=name, expected="at least one residue", found="an empty record",
                       hint="remove the empty record")


def alphabet_error(path: Path, fmt: str, index: int, name: str, seq: str, alpha: Alphabet,
                   bad: int | None = None) -> GenolmError:
    """The error for record number ``index`` holding a character outside ``alpha``, with its line."""
    if bad is None:
        try:
            bad = alpha.first_invalid(seq.encode("ascii"))
        except UnicodeEncodeError as err:
            bad = err.start
    return GenolmError(f"character outside the {alpha.name} alphabet at position {bad + 1}",
                       file=path, line=locate(path, fmt, index, bad), record=name,
                       expected=f"one of {alpha.symbols} (any case)", found=show(seq[bad]),
                       hint=_alphabet_hint(alpha, seq[bad]))


def _alphabet_hint(alpha: Alphabet, ch: str) -> str:
    if alpha.name == "dna" and ch in "Uu":
        return "this looks like RNA: use --alphabet rna"
    if alpha.name in ("dna", "rna") and ch.upper() in "EFILPQ*":
        return "if this is protein, use --alphabet protein; else fix the sequence or choose an --unknown policy"
    return "fix the sequence, or choose another --alphabet / --unknown policy"


def _check_unique(path: Path, compression: str | None, fmt: str, hashes: list[int]) -> None:
    arr = np.sort(np.asarray(hashes, dtype=np.int64))
    dup = arr[1:][arr[1:] == arr[:-1]]
    if not len(dup):
        return
    # A 64-bit hash collision is possible in principle: confirm with the real ids.
    suspects = set(dup.tolist())
    first: dict[str, int] = {}
    index = 0
    for cols in raw_columns(path, compression, fmt):
        for name in cols.ids:
            if hash(name) in suspects:
                if name in first:
                    raise GenolmError("duplicate record id", file=path, line=locate(path, fmt, index),
                                      record=name, expected="unique ids",
                                      found=f"the same id as record {first[name] + 1}",
                                      hint="rename or deduplicate the records (e.g. seqkit rename)")
                first[name] = index
            index += 1


# ----------------------------------------------------------------------------- writing


def _records(records: Iterable) -> Iterator[SeqRecord]:
    for rec in records:
        if isinstance(rec, SeqRecord):
            yield rec
        elif len(rec) == 2:
            yield SeqRecord(rec[0], rec[1])
        else:
            yield SeqRecord(*rec)


def format_fasta(rec: SeqRecord, width: int = 60) -> bytes:
    """One FASTA record as bytes, the sequence wrapped at ``width`` (0 = one line)."""
    header = rec.id + (" " + rec.description if rec.description else "")
    seq = rec.seq
    if width and len(seq) > width:
        seq = "\n".join(seq[i: i + width] for i in range(0, len(seq), width))
    return f">{header}\n{seq}\n".encode()


def format_fastq(rec: SeqRecord) -> bytes:
    if rec.qual is None or len(rec.qual) != len(rec.seq):
        raise GenolmError("cannot write FASTQ without a quality per base", record=rec.id,
                          expected=f"{len(rec.seq)} qualities",
                          found=str(None if rec.qual is None else len(rec.qual)))
    header = rec.id + (" " + rec.description if rec.description else "")
    return f"@{header}\n{rec.seq}\n+\n{rec.qual}\n".encode()


def write_fasta(records: Iterable, path: str | os.PathLike | BinaryIO, width: int = 60) -> None:
    """Write records (SeqRecord or ``(id, seq)``) as FASTA; a path is written atomically and
    compressed by its suffix (.gz, .bz2, .xz, .zst)."""
    _write(records, path, lambda r: format_fasta(r, width))


def write_fastq(records: Iterable, path: str | os.PathLike | BinaryIO) -> None:
    """Write records with qualities as FASTQ (atomically, compressed by suffix)."""
    _write(records, path, format_fastq)


def _write(records, path, fmt) -> None:
    if hasattr(path, "write"):
        for rec in _records(records):
            path.write(fmt(rec))
        return
    with atomic_file(path) as tmp:
        with open_write(tmp, compression=compression_for_name(path)) as fh:
            for rec in _records(records):
                fh.write(fmt(rec))


def binary_stdout():
    """stdout as a binary stream (pending text flushed first), for writers that take one."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        return buffer

    class _Text:  # e.g. a StringIO swapped in for sys.stdout
        def write(self, data: bytes) -> None:
            sys.stdout.write(data.decode())

        def flush(self) -> None:
            sys.stdout.flush()

    return _Text()
