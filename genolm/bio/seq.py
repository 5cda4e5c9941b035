"""Nucleotide strings: reverse complement, transcription, GC content, and 4-bit base masks.

Everything runs at C speed: ``bytes.translate`` with tables built once at import, or numpy
lookups on the raw bytes.  IUPAC ambiguity codes are understood everywhere and case is kept
(lowercase is soft-masking).  A character that is not a nucleotide code is never passed through:
``unknown="error"`` (the default) raises :class:`GenolmError` naming its offset, ``unknown="n"``
reads it as N.

>>> reverse_complement("ACGTRYn")
'nRYACGT'
>>> reverse_complement("AUGC", rna=True)
'GCAU'
>>> transcribe("ATGc")
'AUGc'
>>> round(gc_content("GGCCAATN"), 3)
0.571
"""

from __future__ import annotations

import numpy as np

from genolm.errors import GenolmError, show

UNKNOWN_POLICIES = ("error", "n")

# IUPAC nucleotide code -> complement (DNA).  S, W, N are their own complements; U (RNA input)
# pairs with A, so a DNA reverse complement of RNA text is still well defined.
_DNA_PAIRS = {"A": "T", "C": "G", "G": "C", "T": "A", "U": "A", "R": "Y", "Y": "R", "K": "M",
              "M": "K", "B": "V", "V": "B", "D": "H", "H": "D", "S": "S", "W": "W", "N": "N"}
_RNA_PAIRS = {**_DNA_PAIRS, "A": "U", "T": "A"}

# The bases each IUPAC code stands for, as 4 bits in TCAG order (bit 0 = T/U, 1 = C, 2 = A, 3 = G),
# so an unambiguous base's bit position is its index in the NCBI codon-table order.
_BASES = "TCAG"
_IUPAC = {"T": "T", "U": "T", "C": "C", "A": "A", "G": "G", "R": "AG", "Y": "CT", "S": "CG",
          "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG",
          "N": "ACGT"}


def _both_cases(pairs: dict[str, str]) -> dict[str, str]:
    return {**pairs, **{k.lower(): v.lower() for k, v in pairs.items()}}


def _translate_table(pairs: dict[str, str]) -> bytes:
    """256-byte table for bytes.translate; bytes outside ``pairs`` become N (only reached under
    ``unknown="n"``: the "error" policy checks before translating)."""
    table = bytearray(b"N" * 256)
    for k, v in _both_cases(pairs).items():
        table[ord(k)] = ord(v)
    return bytes(table)


NUCLEOTIDE_BYTES = "".join(_both_cases(_DNA_PAIRS)).encode("ascii")  # every allowed byte
_RC_DNA = _translate_table(_DNA_PAIRS)
_RC_RNA = _translate_table(_RNA_PAIRS)
_TRANSCRIBE = _translate_table({c: ("U" if c == "T" else c) for c in _DNA_PAIRS})
_BACK_TRANSCRIBE = _translate_table({c: ("T" if c == "U" else c) for c in _DNA_PAIRS})
_TO_N = _translate_table({c: c for c in _DNA_PAIRS})

# (256,) uint8: byte -> 4-bit mask of the bases it may be; 0 for a non-nucleotide byte.
NUC_MASK = np.zeros(256, dtype=np.uint8)
for _code, _bases in _both_cases(_IUPAC).items():
    NUC_MASK[ord(_code)] = sum(1 << _BASES.index(b) for b in _bases.upper())
# (16,) uint8: mask -> mask of the complementary bases (T<->A is bit 0<->2, C<->G is bit 1<->3).
COMPLEMENT_MASK = np.array([((m & 1) << 2) | ((m & 4) >> 2) | ((m & 2) << 2) | ((m & 8) >> 2)
                            for m in range(16)], dtype=np.uint8)


def as_bytes(seq: str | bytes) -> bytes:
    """The sequence as bytes, one byte per character (non-Latin-1 characters become '?')."""
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return bytes(seq)
    return seq.encode("latin-1", errors="replace")


def check_unknown(seq: str | bytes, unknown: str = "error", *, allowed: bytes = NUCLEOTIDE_BYTES
                  ) -> bytes:
    """``seq`` as bytes, with characters outside ``allowed`` handled by the ``unknown`` policy.

    "error" raises GenolmError naming the first offending offset and character; "n" replaces
    every one of them with N.

    >>> check_unknown("AC-T", unknown="n")
    b'ACNT'
    """
    if unknown not in UNKNOWN_POLICIES:
        raise GenolmError("unknown policy for unknown characters", expected=" | ".join(UNKNOWN_POLICIES),
                          found=repr(unknown))
    data = as_bytes(seq)
    if not data.translate(None, allowed):
        return data
    if unknown == "n":
        return data.translate(_TO_N)
    ok = np.zeros(256, dtype=bool)
    ok[np.frombuffer(allowed, dtype=np.uint8)] = True
    offset = int(np.flatnonzero(~ok[np.frombuffer(data, dtype=np.uint8)])[0])
    raise GenolmError(f"unknown nucleotide character at offset {offset}",
                      expected="an IUPAC nucleotide code (ACGTU RYSWKMBDHVN, any case)",
                      found=show(seq[offset:offset + 1]),
                      hint="fix the sequence, or read unknown characters as N (unknown='n', --unknown n)")


def _like(seq: str | bytes, data: bytes) -> str | bytes:
    """Return ``data`` with the type of ``seq``."""
    return data.decode("ascii") if isinstance(seq, str) else data


def reverse_complement(seq: str | bytes, *, rna: bool = False, unknown: str = "error") -> str | bytes:
    """Reverse complement, IUPAC-aware (R<->Y, K<->M, B<->V, D<->H; S, W, N unchanged), case kept.

    ``rna=True`` writes U for the complement of A (U and T both pair with A).  Returns the type
    it was given (str or bytes).

    >>> reverse_complement("AAGCTNnr")
    'ynNAGCTT'
    >>> reverse_complement(b"ACGU", rna=True)
    b'ACGU'
    """
    data = check_unknown(seq, unknown)
    return _like(seq, data.translate(_RC_RNA if rna else _RC_DNA)[::-1])


def complement(seq: str | bytes, *, rna: bool = False, unknown: str = "error") -> str | bytes:
    """Complement without reversing.

    >>> complement("ACGTN")
    'TGCAN'
    """
    data = check_unknown(seq, unknown)
    return _like(seq, data.translate(_RC_RNA if rna else _RC_DNA))


def transcribe(seq: str | bytes, *, unknown: str = "error") -> str | bytes:
    """Coding-strand DNA -> mRNA: T becomes U (t becomes u); everything else is kept.

    >>> transcribe("ATGGCtTAA")
    'AUGGCuUAA'
    """
    return _like(seq, check_unknown(seq, unknown).translate(_TRANSCRIBE))


def back_transcribe(seq: str | bytes, *, unknown: str = "error") -> str | bytes:
    """mRNA -> coding-strand DNA: U becomes T (u becomes t).

    >>> back_transcribe("AUGgcu")
    'ATGgct'
    """
    return _like(seq, check_unknown(seq, unknown).translate(_BACK_TRANSCRIBE))


def gc_content(seq: str | bytes, *, unknown: str = "error") -> float:
    """Fraction of G+C among the bases whose GC status is known (A C G T U, and S = G/C, W = A/T).

    Other ambiguity codes (N, R, Y, ...) are left out of both counts; no such base gives 0.0.

    >>> gc_content("GCSWATNN")
    0.5
    """
    counts = np.bincount(np.frombuffer(check_unknown(seq, unknown), dtype=np.uint8), minlength=256)
    gc = counts[list(b"GCSgcs")].sum()
    total = gc + counts[list(b"ATUWatuw")].sum()
    return float(gc / total) if total else 0.0


def nucleotide_masks(seq: str | bytes, *, unknown: str = "error") -> np.ndarray:
    """(L,) uint8: each base as a 4-bit mask of what it may be (TCAG bit order; N = 15).

    >>> nucleotide_masks("TCAGNu").tolist()
    [1, 2, 4, 8, 15, 1]
    """
    data = check_unknown(seq, unknown)
    return NUC_MASK[np.frombuffer(data, dtype=np.uint8)]


def reverse_complement_masks(masks: np.ndarray) -> np.ndarray:
    """(L,) masks of the reverse-complement strand.

    >>> reverse_complement_masks(nucleotide_masks("AAC")).tolist()
    [8, 1, 1]
    """
    return COMPLEMENT_MASK[masks[::-1]]
