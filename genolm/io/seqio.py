"""Streaming FASTA/FASTQ readers and writers, strict about malformed input.

Two layers, as in Biopython and pyfastx: a fast iterator of plain records on top of well-kept C
parsers, and a slow pure-Python scanner that runs only after something went wrong, to name the
exact line.

- FASTA, plain or gzip: ``pyfastx.Fastx`` (kseq, ~1.3 GB/s plain).  pyfastx is lenient where we
  must not be (it silently stops at a truncated gzip stream), so a thread verifies the gzip stream
  with ISA-L beside it — ISA-L releases the GIL, so on two cores this costs little wall time.
- FASTQ (any compression) and FASTA in bz2/xz/zstd: ``dnaio`` (strict: quality length, headers).

Every check that pyfastx/dnaio do not make is made here: text before the first record, an empty
file or record, binary junk, characters outside the chosen alphabet, duplicate ids.  All raise
:class:`GenolmError` with file, line, record, expected vs found, and a hint.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
>>> write_fasta([("a", "ACGTacgt"), ("b", "NNAC")], p)
>>> [r.seq for r in read_records(p)]
['ACGTacgt', 'NNAC']
>>> [r.seq for r in read_records(p, case="upper")]
['ACGTACGT', 'NNAC']
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, NamedTuple

import numpy as np

from genolm.errors import GenolmError, show
from genolm.io.alphabet import Alphabet, get_alphabet
from genolm.io.atomic import atomic_file
from genolm.io.compression import (check_gzip_integrity, compression_for_name, detect_compression,
                                   open_binary, open_write)

SNIFF_BYTES = 1 << 16
CHUNK_BYTES = 8 << 20  # inflated bytes per chunk handed to pyfastx


class SeqRecord(NamedTuple):
    """One sequence: ``id`` (first word of the header), ``seq``, ``qual`` (FASTQ only), ``description``."""

    id: str
    seq: str
    qual: str | None = None
    description: str = ""


# ----------------------------------------------------------------------------- format sniffing


def sniff_format(path: str | os.PathLike, compression: str | None = "detect") -> str:
    """``'fasta'`` or ``'fastq'`` from the first byte of the (decompressed) content.

    Raises GenolmError for an empty file, binary data, or text before the first record.
    """
    if compression == "detect":
        compression = detect_compression(path)
    try:
        with open_binary(path, compression) as fh:
            head = fh.read(SNIFF_BYTES)
    except (EOFError, OSError, ValueError) as err:
        raise _decompress_error(path, compression, err) from None
    stripped = head.lstrip()
    if not stripped:
        raise GenolmError("empty file: no sequence records", file=path,
                          expected="a FASTA ('>') or FASTQ ('@') record", found="nothing",
                          hint="check that the file was written completely")
    first = stripped[:1]
    if first == b">":
        return "fasta"
    if first == b"@":
        return "fastq"
    line = head[: len(head) - len(stripped)].count(b"\n") + 1
    text = stripped.split(b"\n", 1)[0]
    if _looks_binary(head):
        raise GenolmError("binary data, not FASTA/FASTQ", file=path, line=line,
                          expected="'>' or '@' header", found=show(text[:16]),
                          hint="is this an unsupported compression or a different file type?")
    raise GenolmError("text before the first record", file=path, line=line,
                      expected="a header line starting with '>' (FASTA) or '@' (FASTQ)",
                      found=show(text), hint="remove the preamble or fix the header")


def _looks_binary(data: bytes) -> bool:
    sample = np.frombuffer(data[:4096], dtype=np.uint8)
    # Control characters other than tab/newline/CR, or bytes >= 0x80 in bulk: not a text file.
    ctrl = (sample < 9) | ((sample > 13) & (sample < 32)) | (sample == 127)
    return bool(ctrl.any()) or (sample >= 128).mean() > 0.1


def _decompress_error(path, compression, err) -> GenolmError:
    kind = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}.get(compression, "compressed")
    if isinstance(err, EOFError) or "end" in str(err).lower():
        return GenolmError(f"truncated {kind} file: the compressed stream ends early", file=path,
                           hint="the download or copy was cut short; fetch it again")
    return GenolmError(f"corrupt {kind} file ({err})", file=path, hint="the file is damaged; fetch it again")


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
    index = -1
    for index, rec in enumerate(_raw_records(path, compression, fmt)):
        name, seq = rec[0], rec[1]
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
        if unique_ids:
            hashes.append(hash(name))
        yield SeqRecord(name, seq, rec[2], rec[3])
    if unique_ids and index >= 0:
        _check_unique(path, fmt, hashes)


class Batch(NamedTuple):
    """Consecutive records of one file: ``first`` is the index of ``ids[0]`` in the file."""

    first: int
    ids: list[str]
    seqs: list[str]


def read_batches(path: str | os.PathLike, *, max_bases: int = 1 << 20,
                 unique_ids: bool = True) -> Iterator[Batch]:
    """Stream a file as batches of about ``max_bases`` bases, for bulk work such as tokenizing.

    Per record only the structure is checked here (an id, a non-empty sequence, unique ids); the
    alphabet is left to the consumer, which checks a whole batch in one pass and can call
    :func:`alphabet_error` for the exact line.  Much less per-record overhead than
    :func:`read_records`, which matters for short reads.
    """
    path = Path(path)
    compression = detect_compression(path)
    fmt = sniff_format(path, compression)
    hashes: list[int] = []
    ids: list[str] = []
    seqs: list[str] = []
    first = n = 0
    for index, rec in enumerate(_raw_records(path, compression, fmt)):
        name, seq = rec[0], rec[1]
        if not name or not seq:
            raise _structure_error(path, fmt, index, name)
        ids.append(name)
        seqs.append(seq)
        n += len(seq)
        if n >= max_bases:
            if unique_ids:
                hashes.extend(map(hash, ids))
            yield Batch(first, ids, seqs)
            first, ids, seqs, n = index + 1, [], [], 0
    if ids:
        if unique_ids:
            hashes.extend(map(hash, ids))
        yield Batch(first, ids, seqs)
    if unique_ids and hashes:
        _check_unique(path, fmt, hashes)


def _structure_error(path: Path, fmt: str, index: int, name: str) -> GenolmError:
    if not name:
        return GenolmError("header without an id", file=path, line=_locate(path, fmt, index),
                           expected="'>ID [description]'", found=repr(">"),
                           hint="give every record an identifier")
    return GenolmError("record has no sequence", file=path, line=_locate(path, fmt, index),
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
                       file=path, line=_locate(path, fmt, index, bad), record=name,
                       expected=f"one of {alpha.symbols} (any case)", found=show(seq[bad]),
                       hint=_alphabet_hint(alpha, seq[bad]))


def _alphabet_hint(alpha: Alphabet, ch: str) -> str:
    if alpha.name == "dna" and ch in "Uu":
        return "this looks like RNA: use --alphabet rna"
    if alpha.name in ("dna", "rna") and ch.upper() in "EFILPQ*":
        return "this looks like protein: use --alphabet protein"
    return "fix the sequence, or choose another --alphabet / --unknown policy (n, skip)"


def _raw_records(path: Path, compression: str | None, fmt: str) -> Iterator[tuple]:
    """(id, seq, qual, description) tuples from the fastest parser that is strict enough."""
    if fmt == "fasta" and compression in (None, "gz"):
        yield from _pyfastx_fasta(path, compression)
    else:
        yield from _dnaio_records(path, compression, fmt)


def _pyfastx_fasta(path: Path, compression: str | None) -> Iterator[tuple]:
    import pyfastx

    check = None
    if compression == "gz" and hasattr(os, "memfd_create"):
        sources = _inflated_chunks(path)
    else:
        sources = iter([os.fspath(path)])
        check = _start_gzip_check(path) if compression == "gz" else None
    try:
        for source in sources:
            for name, seq, comment in pyfastx.Fastx(source, comment=True, uppercase=False):
                yield name, seq, None, comment or ""
    except UnicodeDecodeError as err:
        raise GenolmError("header is not valid text (UTF-8)", file=path, found=show(err.object[:40]),
                          hint="the file may be binary or damaged") from None
    except RuntimeError as err:  # pyfastx's generic "not fasta" etc.: let the scanner find the line
        raise _scan_for_error(path, "fasta") or GenolmError(str(err), file=path) from None
    finally:
        if check is not None:
            check.join()
    if check is not None and check.error is not None:
        raise check.error


def _inflated_chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[str]:
    """Inflate a gzip FASTA with ISA-L and hand it to pyfastx as plain text, a chunk at a time.

    pyfastx inflates gzip with zlib (~3x slower than ISA-L) and stops silently at a truncated
    stream; ISA-L checks CRC and length and raises.  Each chunk ends at a record boundary (a
    newline before '>') and is written to an in-memory file (memfd), whose /proc path pyfastx
    parses at plain-text speed.  A record longer than ``size`` makes its chunk longer.
    """
    from isal import igzip

    fd = os.memfd_create("genolm-fasta")
    pending = bytearray()
    try:
        with igzip.open(path, "rb") as fh:
            while True:
                try:
                    data = fh.read(size)
                except Exception as err:  # EOFError (truncated), isal's error (corrupt)
                    raise _decompress_error(path, "gz", err) from None
                start = max(0, len(pending) - 1)
                pending += data
                cut = pending.rfind(b"\n>", start) + 1 if data else len(pending)
                if cut <= 0:
                    continue  # no record boundary yet: a long record, keep reading
                os.ftruncate(fd, 0)
                view = memoryview(pending)[:cut]
                written = 0
                while written < cut:
                    written += os.pwrite(fd, view[written:], written)
                view.release()
                del pending[:cut]
                yield f"/proc/self/fd/{fd}"
                if not data:
                    return
    finally:
        os.close(fd)


class _GzipCheck(threading.Thread):
    """Where memfd is missing: verify the gzip stream in a thread beside pyfastx (ISA-L)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.error = path, None

    def run(self) -> None:
        try:
            check_gzip_integrity(self.path)
        except GenolmError as err:
            self.error = err


def _start_gzip_check(path: Path) -> _GzipCheck:
    check = _GzipCheck(path)
    check.start()
    return check


def _dnaio_records(path: Path, compression: str | None, fmt: str) -> Iterator[tuple]:
    import dnaio

    fh = open_binary(path, compression)
    try:
        with dnaio.open(fh, fileformat=fmt) as reader:
            for rec in reader:
                name, _, desc = rec.name.partition(" ")
                yield name, rec.sequence, rec.qualities, desc.strip()
    except dnaio.exceptions.FileFormatError as err:
        line = err.line + 1 if getattr(err, "line", None) is not None else None
        msg = str(err).split(": ", 1)[-1] if "line" in str(err) else str(err)
        raise GenolmError(msg.rstrip("."), file=path, line=line, hint=_fastq_hint(msg)) from None
    except UnicodeDecodeError as err:
        raise GenolmError("not valid text (binary data inside the file)", file=path,
                          found=show(err.object[max(0, err.start - 8): err.start + 8]),
                          hint="the file may be damaged or not a sequence file") from None
    except (EOFError, OSError, ValueError) as err:
        raise _decompress_error(path, compression, err) from None
    except Exception as err:  # zstandard.ZstdError, lzma.LZMAError
        if type(err).__name__ in ("ZstdError", "LZMAError"):
            raise _decompress_error(path, compression, err) from None
        raise
    finally:
        fh.close()


def _fastq_hint(msg: str) -> str:
    if "qualit" in msg.lower():
        return "each FASTQ record needs as many quality characters as bases; is the file truncated?"
    return "FASTQ records are 4 lines: @id, sequence, +, qualities"


def _check_unique(path: Path, fmt: str, hashes: list[int]) -> None:
    arr = np.asarray(hashes, dtype=np.int64)
    order = np.argsort(arr, kind="stable")
    same = np.flatnonzero(arr[order][1:] == arr[order][:-1])
    if not len(same):
        return
    # A 64-bit hash collision is possible in principle: confirm with the real ids.
    suspects = {int(arr[order][i]) for i in same}
    first: dict[str, int] = {}
    for index, rec in enumerate(_raw_records(path, detect_compression(path), fmt)):
        if hash(rec[0]) not in suspects:
            continue
        if rec[0] in first:
            raise GenolmError("duplicate record id", file=path, line=_locate(path, fmt, index),
                              record=rec[0], expected="unique ids",
                              found=f"the same id as record {first[rec[0]] + 1}",
                              hint="rename or deduplicate the records (e.g. seqkit rename)")
        first[rec[0]] = index


# ----------------------------------------------------------------------------- slow, exact scanner


def _locate(path: Path, fmt: str, index: int, offset: int | None = None) -> int | None:
    """Line number (1-based) of record ``index``'s header, or of base ``offset`` in its sequence."""
    try:
        with open_binary(path) as fh:
            if fmt == "fastq":
                # dnaio only reads 4-line FASTQ: header of record i is line 4i+1, its bases 4i+2.
                return 4 * index + (2 if offset is not None else 1)
            return _locate_fasta(fh, index, offset)
    except Exception:  # locating is best effort; the error itself is already known
        return None


def _locate_fasta(fh: BinaryIO, index: int, offset: int | None) -> int | None:
    record = -1
    seen = 0
    for lineno, line in enumerate(fh, 1):
        if line.startswith(b">"):
            record += 1
            seen = 0
            if record == index and offset is None:
                return lineno
            if record > index:
                return None
            continue
        if record == index and offset is not None:
            n = len(line.rstrip(b"\r\n").strip())
            if seen + n > offset:
                return lineno
            seen += n
    return None


def _scan_for_error(path: Path, fmt: str) -> GenolmError | None:
    """Re-read a FASTA file line by line to name the first structural problem exactly."""
    with open_binary(path) as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            if text.startswith(b">"):
                return None
            return GenolmError("text before the first record", file=path, line=lineno,
                               expected="a header line starting with '>'", found=show(text),
                               hint="remove the preamble or fix the header")
    return GenolmError("empty file: no sequence records", file=path)


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

