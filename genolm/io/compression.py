"""Compression detected from magic bytes (never the file name): gzip, bzip2, xz, zstd, or none.

>>> import gzip, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fasta"   # a gzip file without .gz: still detected
>>> _ = p.write_bytes(gzip.compress(b">a\\nACGT\\n"))
>>> detect_compression(p)
'gz'
>>> with open_binary(p) as fh:
...     fh.read()
b'>a\\nACGT\\n'
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
from pathlib import Path
from typing import BinaryIO, Callable

from genolm.errors import GenolmError

MAGIC: dict[str, bytes] = {
    "gz": b"\x1f\x8b",
    "bz2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zst": b"\x28\xb5\x2f\xfd",
}
SUFFIX = {"gz": ".gz", "bz2": ".bz2", "xz": ".xz", "zst": ".zst"}


def detect_compression(path: str | os.PathLike) -> str | None:
    """Return ``'gz'``, ``'bz2'``, ``'xz'``, ``'zst'`` or None (plain), from the first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except FileNotFoundError:
        raise GenolmError("no such file", file=path, hint="check the path") from None
    except IsADirectoryError:
        raise GenolmError("is a directory, not a sequence file", file=path) from None
    except PermissionError:
        raise GenolmError("cannot read file (permission denied)", file=path) from None
    for kind, magic in MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def open_binary(path: str | os.PathLike, compression: str | None = "detect", *,
                progress: Callable[[int], None] | None = None) -> BinaryIO:
    """Open ``path`` for reading as a decompressed binary stream.

    gzip goes through ISA-L (``isal.igzip``, several times faster than zlib); all decoders verify
    their checksums and raise on a truncated stream (turned into GenolmError by the readers).
    ``progress(n)`` is called with the number of bytes read from the file (compressed bytes), for
    progress bars that move while one large file is being read.
    """
    if compression == "detect":
        compression = detect_compression(path)
    raw: BinaryIO = open(path, "rb")
    if progress is not None:
        raw = io.BufferedReader(_Counting(raw, progress), buffer_size=1 << 16)
    if compression is None:
        return raw
    if compression == "gz":
        from isal import igzip

        return _Closing(igzip.IGzipFile(fileobj=raw, mode="rb"), raw)
    if compression == "bz2":
        return _Closing(bz2.BZ2File(raw, "rb"), raw)
    if compression == "xz":
        return _Closing(lzma.LZMAFile(raw, "rb"), raw)
    if compression == "zst":
        return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 20)
    raise ValueError(f"unknown compression {compression!r}")


class _Counting(io.RawIOBase):
    """A raw file that reports how many bytes were read from it."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None]) -> None:
        self._raw, self._progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._raw.readinto(buf)
        if n:
            self._progress(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Closing(io.BufferedReader):
    """A decoder over a file object it did not open: closing it closes that file too."""

    def __init__(self, decoder, raw: BinaryIO) -> None:
        super().__init__(decoder, buffer_size=1 << 16)
        self._file = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._file.close()


class _ZstdReader(io.RawIOBase):
    """Multi-frame zstd decoder that raises EOFError on a truncated stream.

    zstandard's own ``stream_reader`` returns the decoded part of a cut-off frame silently, which
    would turn a damaged file into a shorter one; here every frame must reach its end.
    """

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dec = self._new()
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd stream ends inside a frame")
                return 0
            while chunk:
                self._in_frame = True
                self._pending += self._dec.decompress(chunk)
                if self._dec.eof:  # frame complete; the rest of the chunk starts a new frame
                    chunk = self._dec.unused_data
                    self._dec = self._new()
                    self._in_frame = False
                else:
                    chunk = b""
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_write(path: str | os.PathLike, compression: str | None = "suffix", level: int = 3) -> BinaryIO:
    """Open ``path`` for writing, compressing by its suffix (.gz, .bz2, .xz, .zst) unless told."""
    if compression == "suffix":
        compression = compression_for_name(path)
    if compression is None:
        return open(path, "wb")
    if compression == "gz":
        from isal import igzip

        return igzip.open(path, "wb", compresslevel=min(level, 3))
    if compression == "bz2":
        return bz2.open(path, "wb", compresslevel=max(1, level))
    if compression == "xz":
        return lzma.open(path, "wb", preset=level)
    if compression == "zst":
        import zstandard

        return zstandard.ZstdCompressor(level=level).stream_writer(open(path, "wb"), closefd=True)
    raise ValueError(f"unknown compression {compression!r}")


def compression_for_name(name: str | os.PathLike) -> str | None:
    """The compression a file name asks for by its suffix (for writing only; reading sniffs)."""
    name = Path(name).name
    return next((k for k, s in SUFFIX.items() if name.endswith(s)), None)


def check_gzip_integrity(path: str | os.PathLike, chunk: int = 1 << 22) -> None:
    """Decompress a gzip file to the end, raising GenolmError if it is truncated or corrupt.

    ISA-L releases the GIL while it inflates, so this can run in a thread beside a parser.
    """
    from isal import igzip

    try:
        with igzip.open(path, "rb") as fh:
            while fh.read(chunk):
                pass
    except EOFError:
        raise GenolmError("truncated gzip file: the compressed stream ends before its end marker",
                          file=path, hint="the download or copy was cut short; fetch it again") from None
    except (OSError, ValueError) as err:  # bad CRC, bad block
        raise GenolmError(f"corrupt gzip file ({err})", file=path,
                          hint="the file is damaged; fetch it again") from None
