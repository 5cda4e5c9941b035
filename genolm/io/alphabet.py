"""Sequence alphabets (DNA, RNA, protein) and fast byte-level checks against them.

An alphabet is a set of allowed bytes (both cases: lowercase is soft-masking, not an error).
Checks run at C speed with ``bytes.translate``; the first offending byte is located only when
there is one.

>>> DNA.first_invalid(b"ACGTNacgtn")
-1
>>> DNA.first_invalid(b"ACGU")
3
>>> get_alphabet("protein").name
'protein'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from genolm.errors import GenolmError

IUPAC_AMBIGUOUS = "NRYSWKMBDHV"
PROTEIN_LETTERS = "ACDEFGHIKLMNPQRSTVWY"
PROTEIN_EXTRA = "BZJUOX*"  # ambiguous/rare amino acids and the stop symbol


@dataclass(frozen=True)
class Alphabet:
    """Allowed symbols of one molecule type.

    ``core`` are the unambiguous symbols; ``extra`` the ambiguity codes (N, R, Y, … or X, B, Z, *).
    Both cases are always allowed.
    """

    name: str
    core: str
    extra: str

    @property
    def symbols(self) -> str:
        return self.core + self.extra

    @cached_property
    def allowed(self) -> bytes:
        s = self.symbols
        return (s.upper() + s.lower()).encode("ascii")

    @cached_property
    def mask(self) -> np.ndarray:
        """(256,) bool lookup: True where a byte belongs to the alphabet."""
        m = np.zeros(256, dtype=bool)
        m[np.frombuffer(self.allowed, dtype=np.uint8)] = True
        return m

    def first_invalid(self, seq: bytes | str) -> int:
        """Offset of the first byte outside the alphabet, or -1 when all are valid."""
        if isinstance(seq, str):
            seq = seq.encode("latin-1")
        if not seq.translate(None, self.allowed):
            return -1
        bad = np.flatnonzero(~self.mask[np.frombuffer(seq, dtype=np.uint8)])
        return int(bad[0])


DNA = Alphabet("dna", "ACGT", IUPAC_AMBIGUOUS)
RNA = Alphabet("rna", "ACGU", IUPAC_AMBIGUOUS)
PROTEIN = Alphabet("protein", PROTEIN_LETTERS, PROTEIN_EXTRA)
# Any nucleotide (DNA or RNA letters), for tools that take both.
NUCLEOTIDE = Alphabet("nucleotide", "ACGTU", IUPAC_AMBIGUOUS)

ALPHABETS = {a.name: a for a in (DNA, RNA, PROTEIN, NUCLEOTIDE)}


def get_alphabet(name: str | Alphabet | None) -> Alphabet | None:
    """Look an alphabet up by name (``dna``, ``rna``, ``protein``, ``nucleotide``); None = no check."""
    if name is None or isinstance(name, Alphabet):
        return name
    try:
        return ALPHABETS[name.lower()]
    except KeyError:
        raise GenolmError("unknown alphabet", expected=" | ".join(ALPHABETS), found=repr(name),
                          hint="pass --alphabet dna, rna or protein") from None
