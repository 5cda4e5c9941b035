"""The parsers under genolm's readers, and the slow scanner that names exact lines.

Backends (all strict, see :mod:`genolm.io.seqio` for the checks made on top):

- FASTA (any compression): decompressed here (gzip through ISA-L, ~3x zlib; every decoder
  raises on a truncated stream, where pyfastx alone stops silently), checked for what kseq would
  misread, and parsed chunk by chunk by ``pyfastx.Fastx`` (kseq, ~1.3 GB/s on plain text).
- FASTQ (any compression): ``dnaio`` (checks qualities and headers).

Records come out as :class:`Columns` chunks.  When something is wrong, :func:`locate` re-reads
the file line by line (a few lines of Python, only on the error path) to name the exact line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NamedTuple

import numpy as np

from genolm.errors import GenolmError, show
from genolm.io.compression import detect_compression, open_binary

SNIFF_BYTES = 1 << 16
CHUNK_BYTES = 4 << 20  # decompressed bytes per chunk handed to pyfastx
RECORDS_PER_CHUNK = 50_000


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
        raise decompress_error(path, compression, err) from None
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


def decompress_error(path, compression, err) -> GenolmError:
    kind = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}.get(compression, "compressed")
    if isinstance(err, EOFError) or "end" in str(err).lower():
        return GenolmError(f"truncated {kind} file: the compressed stream ends early", file=path,
                           hint="the download or copy was cut short; fetch it again")
    return GenolmError(f"corrupt {kind} file ({err})", file=path, hint="the file is damaged; fetch it again")



class Columns(NamedTuple):
    """Consecutive records as columns: ids, sequences, qualities (FASTQ, else None) and
    descriptions (None entries mean none).  Columns, not one tuple per record: bulk consumers
    (tokenizing millions of reads) then pay almost nothing per record."""

    ids: list[str]
    seqs: list[str]
    quals: list[str] | None
    descs: list


def raw_columns(path: Path, compression: str | None, fmt: str, *,
                progress: Callable[[int], None] | None = None) -> Iterator[Columns]:
    """Records of a file in column chunks, from the fastest parser that is strict enough;
    ``progress(n)`` hears of every n bytes read from the file."""
    if fmt == "fasta":
        return _pyfastx_fasta(path, compression, progress)
    return _dnaio_records(path, compression, fmt, progress)


def _pyfastx_fasta(path: Path, compression: str | None, progress=None) -> Iterator[Columns]:
    import pyfastx

    try:
        for source in _plain_chunks(path, compression, progress=progress):
            for chunk in _chunked(pyfastx.Fastx(source, comment=True, uppercase=False)):
                ids, seqs, descs = map(list, zip(*chunk))
                yield Columns(ids, seqs, None, descs)
    except UnicodeDecodeError as err:
        raise GenolmError("header is not valid text (UTF-8)", file=path, found=show(err.object[:40]),
                          hint="the file may be binary or damaged") from None
    except RuntimeError as err:  # pyfastx's generic "not fasta" etc.: let the scanner find the line
        raise scan_for_error(path) or GenolmError(str(err), file=path) from None


def _chunked(records: Iterator, n: int = RECORDS_PER_CHUNK) -> Iterator[list]:
    """Lists of up to ``n`` records; when the parser fails, the records read before the failure
    still come out (then the error): "N good records, then a clear error"."""
    chunk: list = []
    try:
        for rec in records:
            chunk.append(rec)
            if len(chunk) == n:
                yield chunk
                chunk = []
    except Exception:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _plain_chunks(path: Path, compression: str | None, size: int = CHUNK_BYTES, *,
                  progress=None) -> Iterator[str]:
    """Hand a FASTA file to pyfastx as plain text, a chunk of whole records at a time.

    The file is decompressed here (gzip through ISA-L, ~3x faster than the zlib inside pyfastx;
    every decoder checks its stream and raises on a truncated one, where pyfastx would stop
    silently).  Each chunk ends at a record boundary (a newline before '>'), is checked for what
    kseq would misread without a word (see :func:`_check_chunk`), and is written to an in-memory
    file (memfd) whose path pyfastx parses at plain-text speed.  A record longer than ``size``
    makes its chunk longer.
    """
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("genolm-fasta")
        name = f"/proc/self/fd/{fd}"
    else:  # no memfd (macOS): an ordinary temporary file
        fd, name = tempfile.mkstemp(prefix="genolm-", suffix=".fa")
    pending = bytearray()
    offset = 0  # byte offset of pending[0] in the decompressed stream
    try:
        with open_binary(path, compression, progress=progress) as fh:
            while True:
                try:
                    data = fh.read(size)
                except Exception as err:  # EOFError (truncated), decoder errors (corrupt)
                    raise decompress_error(path, compression, err) from None
                start = max(0, len(pending) - 1)
                pending += data
                cut = _last_record_start(pending, start) if data else len(pending)
                if cut <= 0:
                    continue  # no record boundary yet: a long record, keep reading
                _check_chunk(pending, path, offset)
                view = memoryview(pending)[:cut]
                os.ftruncate(fd, 0)
                written = 0
                while written < cut:
                    written += os.pwrite(fd, view[written:], written)
                view.release()
                del pending[:cut]
                offset += cut
                yield name
                if not data:
                    return
    finally:
        os.close(fd)
        if not name.startswith("/proc/"):
            os.unlink(name)


def _last_record_start(buf: bytearray, start: int) -> int:
    """Offset of the last '>' that starts a line at or after ``start`` (0 if none): memrchr for
    '>' (rare), not a backward search for a two-byte pattern through megabases of sequence."""
    i = buf.rfind(b">", start)
    while i > 0 and buf[i - 1] != 10:  # a '>' inside a header line: keep looking
        i = buf.rfind(b">", start, i)
    return max(i, 0)


# Bytes that kseq (pyfastx) misreads without a word: a NUL ends a sequence early; a line starting
# with '@' starts a new record and one starting with '+' is taken for a FASTQ quality separator
# (the rest of the record vanishes).  Anything else odd in a sequence line (';', '#', digits…)
# stays in the sequence, where the alphabet check names it.
_SUSPECT = {b"\x00": "a NUL byte (binary data)", b"@": "a line starting with '@' inside a FASTA file",
            b"+": "a line starting with '+' inside a FASTA file"}


def _check_chunk(buf: bytearray, path: Path, offset: int) -> None:
    """Raise GenolmError if ``buf`` (decompressed bytes from ``offset`` on) holds what kseq would
    misread.  ``byte in buf`` is a memchr, so a clean chunk costs a few passes at memory speed."""
    for byte, what in _SUSPECT.items():
        if byte not in buf:
            continue
        pos = buf.find(byte) if byte == b"\x00" else buf.find(b"\n" + byte) + 1
        if pos <= 0 and byte != b"\x00":
            continue  # only inside header lines (e.g. an id with '@'): harmless
        head = buf.rfind(b"\n>", 0, pos) + 1  # the header of the record it is in (chunks start with one)
        words = bytes(buf[head + 1: buf.find(b"\n", head)]).split(None, 1) if buf[head:head + 1] == b">" else []
        raise GenolmError(what, file=path, line=locate_offset(path, offset + pos),
                          record=words[0].decode(errors="replace") if words else None,
                          expected="sequence lines of letters only",
                          found=show(bytes(buf[pos: pos + 30]).split(b"\n", 1)[0]),
                          hint="is a FASTQ or binary file glued to this FASTA file? fix or remove that line")


def locate_offset(path: Path, offset: int) -> int | None:
    """Line number (1-based) of byte ``offset`` of the decompressed content."""
    try:
        with open_binary(path) as fh:
            line, seen = 1, 0
            while seen < offset:
                data = fh.read(min(1 << 20, offset - seen))
                if not data:
                    return None
                line += data.count(b"\n")
                seen += len(data)
            return line
    except Exception:
        return None


def _dnaio_records(path: Path, compression: str | None, fmt: str, progress=None) -> Iterator[Columns]:
    import dnaio

    fh = open_binary(path, compression, progress=progress)
    try:
        with dnaio.open(fh, fileformat=fmt) as reader:
            for chunk in _chunked(reader):
                # The id ends at the first space or tab, as in pyfastx (and NCBI).
                heads = [rec.name.split(None, 1) or [""] for rec in chunk]
                yield Columns([h[0] for h in heads], [rec.sequence for rec in chunk],
                              [rec.qualities for rec in chunk] if fmt == "fastq" else None,
                              [h[1] if len(h) > 1 else "" for h in heads])
    except dnaio.exceptions.FileFormatError as err:
        raise _fastq_error(path, err) from None
    except UnicodeDecodeError as err:
        raise GenolmError("not valid text (binary data inside the file)", file=path,
                          found=show(err.object[max(0, err.start - 8): err.start + 8]),
                          hint="the file may be damaged or not a sequence file") from None
    except (EOFError, OSError, ValueError) as err:
        raise decompress_error(path, compression, err) from None
    except Exception as err:  # zstandard.ZstdError, lzma.LZMAError
        if type(err).__name__ in ("ZstdError", "LZMAError"):
            raise decompress_error(path, compression, err) from None
        raise
    finally:
        fh.close()


def _fastq_error(path: Path, err) -> GenolmError:
    """dnaio's format error, with the record it is in and what was expected vs found."""
    msg = str(err).split(": ", 1)[-1] if "line" in str(err) else str(err)
    line = err.line + 1 if getattr(err, "line", None) is not None else None
    if line is None:
        return GenolmError(msg.rstrip("."), file=path, hint=_FASTQ_HINT)
    first = 4 * ((line - 1) // 4) + 1  # dnaio reads 4-line records: the header of this one
    lines = _lines(path, first, 4)
    if line > first + len(lines) - 1 and lines:  # reported past the end: the record is cut short
        line = first + len(lines) - 1
    rid = lines[0][1:].split(None, 1)[0].decode(errors="replace") if lines and lines[0][:1] == b"@" else None
    if "qualities" in msg and len(lines) == 4:
        return GenolmError("quality length differs from sequence length", file=path, line=first + 3,
                           record=rid, expected=f"{len(lines[1])} qualities (one per base)",
                           found=str(len(lines[3])), hint="is the file truncated or were lines wrapped?")
    if len(lines) < 4:
        return GenolmError("incomplete last FASTQ record", file=path, line=line, record=rid,
                           expected="4 lines: @id, sequence, +, qualities", found=f"{len(lines)} line(s)",
                           hint="the file was cut short; fetch it again")
    return GenolmError(msg.rstrip("."), file=path, line=line, record=rid, hint=_FASTQ_HINT)


_FASTQ_HINT = "FASTQ records are 4 lines: @id, sequence, +, qualities"


def _lines(path: Path, first: int, n: int) -> list[bytes]:
    """Lines ``first`` .. ``first + n - 1`` (1-based) of the decompressed file, without line ends."""
    try:
        with open_binary(path) as fh:
            out = []
            for lineno, text in enumerate(fh, 1):
                if lineno >= first:
                    out.append(text.rstrip(b"\r\n"))
                    if len(out) == n:
                        break
            return out
    except Exception:
        return []


# ----------------------------------------------------------------------------- slow, exact scanner


def locate(path: Path, fmt: str, index: int, offset: int | None = None) -> int | None:
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


def scan_for_error(path: Path) -> GenolmError | None:
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
