"""Translation with any NCBI genetic code, vectorised, IUPAC-aware, DNA or RNA input.

Each base becomes a 4-bit mask of the bases it may be (``seq.nucleotide_masks``), a codon becomes
the 12-bit index ``m1<<8 | m2<<4 | m3``, and one 4096-entry table per genetic code (built once,
cached) gives its amino acid.  Ambiguous codons resolve as in Biopython: to the single amino acid
all their expansions code for (GGN -> G), to B/Z/J when they code for exactly D/N, E/Q or I/L, to
``*`` when every expansion is a stop, and to X otherwise.  A trailing partial codon is dropped.

>>> translate("ATGGCNTAA")
'MA*'
>>> translate("augggcuaa", to_stop=True)
'MG'
>>> translate("TTGAAATGA", table=11, cds=True)
'MK'
>>> [(strand, frame) for strand, frame, _ in six_frame("ATGAAATAG")][:4]
[(1, 0), (1, 1), (1, 2), (-1, 0)]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from genolm.bio.codon_tables import table_entry
from genolm.bio.seq import nucleotide_masks, reverse_complement_masks
from genolm.errors import GenolmError

BASES = "TCAG"  # NCBI codon order; bit i of a base mask is BASES[i]
# IUPAC protein ambiguity codes an ambiguous codon may resolve to (Biopython's choice).
AMBIGUOUS_AA = {"B": "DN", "J": "IL", "Z": "EQ"}
CODONS = [a + b + c for a in BASES for b in BASES for c in BASES]  # TCAG order, as in the tables


@dataclass(frozen=True, eq=False)
class GeneticCode:
    """One NCBI genetic code, ready for vectorised lookups.

    ``lut``: (4096,) uint8 letter of each codon mask index (0 where a base is not a nucleotide).
    ``start_lut``: (4096,) bool, unambiguous start codons.  ``stop_lut``: (4096,) bool, codons
    that are a stop in every expansion (including context-dependent stops of tables 27/28/31).
    """

    id: int
    name: str
    amino_acids: str
    starts: str
    lut: np.ndarray
    start_lut: np.ndarray
    stop_lut: np.ndarray

    @property
    def start_codons(self) -> list[str]:
        return [c for c, s in zip(CODONS, self.starts) if s == "M"]

    @property
    def stop_codons(self) -> list[str]:
        return [c for c, a, s in zip(CODONS, self.amino_acids, self.starts) if "*" in (a, s)]

    @property
    def dual_coding(self) -> list[str]:
        """Codons that are a stop or an amino acid depending on context (read here as the amino acid)."""
        return [c for c, a, s in zip(CODONS, self.amino_acids, self.starts) if s == "*" and a != "*"]


@functools.lru_cache(maxsize=None)
def genetic_code(table: int = 1) -> GeneticCode:
    """The cached lookup tables of an NCBI translation table id (GenolmError for an unknown id).

    >>> genetic_code(11).start_codons
    ['TTG', 'CTG', 'ATT', 'ATC', 'ATA', 'ATG', 'GTG']
    """
    name, aa, starts = table_entry(table)
    member = _expansions()
    is_stop = np.array([a == "*" or s == "*" for a, s in zip(aa, starts)])
    n_exp = member.sum(1)
    stop_lut = (n_exp > 0) & (member[:, is_stop].sum(1) == n_exp)
    start_lut = np.zeros(4096, dtype=bool)
    exact = _exact_index()
    start_lut[exact[np.array([s == "M" for s in starts])]] = True
    return GeneticCode(int(table), name, aa, starts, _resolve(aa, member), start_lut, stop_lut)


@functools.lru_cache(maxsize=1)
def _expansions() -> np.ndarray:
    """(4096, 64) bool: row = codon mask index, column = TCAG codon it may stand for."""
    bits = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(bool)  # (16 masks, 4 bases)
    member = (bits[:, None, None, :, None, None] & bits[None, :, None, None, :, None]
              & bits[None, None, :, None, None, :])  # (m1, m2, m3, b1, b2, b3)
    return member.reshape(4096, 64)


def _exact_index() -> np.ndarray:
    """(64,) mask index of each unambiguous codon, in TCAG order."""
    b = np.arange(64)
    return ((1 << (b // 16)) << 8) | ((1 << (b // 4 % 4)) << 4) | (1 << (b % 4))


def _resolve(aa: str, member: np.ndarray) -> np.ndarray:
    """(4096,) uint8: the one letter every expansion of a codon translates to (see module doc)."""
    letters = sorted(set(aa))
    onehot = np.array([[a == x for x in letters] for a in aa], dtype=np.int32)  # (64, n_letters)
    present = (member.astype(np.int32) @ onehot) > 0  # (4096, n_letters)
    count = present.sum(1)
    out = np.full(4096, ord("X"), dtype=np.uint8)
    out[count == 0] = 0  # a mask of 0: not a nucleotide
    codes = np.frombuffer("".join(letters).encode(), dtype=np.uint8)
    single = count == 1  # includes "only stops" -> '*'
    out[single] = codes[present[single].argmax(1)]
    for letter, meaning in AMBIGUOUS_AA.items():
        outside = np.array([x not in meaning for x in letters])
        out[(count == 2) & ~present[:, outside].any(1)] = ord(letter)
    return out


def _check_frame(frame: int) -> None:
    if frame not in (0, 1, 2):
        raise GenolmError("reading frame out of range", expected="0, 1 or 2 (offset of the first "
                          "codon)", found=repr(frame), hint="use six_frame() for the reverse strand")


def codon_indices(masks: np.ndarray, frame: int = 0) -> np.ndarray:
    """(L // 3,) intp codon mask indices of one frame of a (L,) mask array."""
    m = masks[frame:]
    c = m[: len(m) // 3 * 3].reshape(-1, 3).astype(np.intp)  # (n_codons, 3)
    return (c[:, 0] << 8) | (c[:, 1] << 4) | c[:, 2]


def translate(seq: str | bytes, table: int = 1, *, frame: int = 0, to_stop: bool = False,
              cds: bool = False, unknown: str = "error") -> str:
    """Translate DNA or RNA from ``frame`` (0-2) with NCBI ``table``; stops are ``*``.

    ``to_stop`` ends the protein before the first stop.  ``cds`` checks a complete coding sequence
    (start codon of the table, whole codons, one final stop, none inside), translates its first
    codon as M and leaves the stop out, like Biopython.  ``unknown``: "error" or "n".

    >>> translate("GTGAAAtag", table=11)
    'VK*'
    >>> translate("GTGAAAtag", table=11, cds=True)
    'MK'
    """
    code = genetic_code(table)
    _check_frame(frame)
    if to_stop and code.dual_coding:
        raise GenolmError(f"to_stop is undefined for table {code.id}: its codons "
                          f"{', '.join(code.dual_coding)} are a stop or an amino acid by context",
                          hint="translate without to_stop and cut where the context says")
    masks = nucleotide_masks(seq, unknown=unknown)
    idx = codon_indices(masks, frame)
    protein = code.lut[idx]
    if cds:
        _check_cds(masks, frame, idx, protein, code)
        return "M" + protein[1:-1].tobytes().decode("ascii")
    if to_stop:
        stops = np.flatnonzero(protein == ord("*"))
        if len(stops):
            protein = protein[: stops[0]]
    return protein.tobytes().decode("ascii")


def _check_cds(masks: np.ndarray, frame: int, idx: np.ndarray, protein: np.ndarray,
               code: GeneticCode) -> None:
    length = len(masks) - frame
    if length % 3 or len(idx) < 2:
        raise GenolmError("not a complete CDS: length is not a whole number of codons (>= 2)",
                          expected="a multiple of 3", found=f"{length} nt")
    if not code.start_lut[idx[0]]:
        raise GenolmError(f"not a complete CDS: first codon is not a start codon of table {code.id}",
                          expected=" ".join(code.start_codons), found=_codon_text(idx[0]))
    if not code.stop_lut[idx[-1]]:
        raise GenolmError("not a complete CDS: last codon is not a stop codon",
                          expected=" ".join(code.stop_codons), found=_codon_text(idx[-1]))
    inner = np.flatnonzero(protein[:-1] == ord("*"))
    if len(inner):
        raise GenolmError("not a complete CDS: in-frame stop codon before the end",
                          expected="no stop before the last codon",
                          found=f"{_codon_text(idx[inner[0]])} at codon {int(inner[0]) + 1}")


def _codon_text(index: int) -> str:
    """The IUPAC letters of a codon mask index (for messages)."""
    by_mask = {0: "?", 1: "T", 2: "C", 4: "A", 8: "G", 5: "W", 6: "M", 12: "R", 3: "Y", 10: "S",
               9: "K", 11: "B", 13: "D", 7: "H", 14: "V", 15: "N"}
    index = int(index)
    return "".join(by_mask[(index >> s) & 15] for s in (8, 4, 0))


def six_frame(seq: str | bytes, table: int = 1, *, unknown: str = "error") -> list[tuple[int, int, str]]:
    """All six reading frames: ``[(strand, frame, protein), ...]``, strand +1 then -1, frame 0-2.

    Frame ``f`` of strand -1 starts ``f`` bases into the reverse complement.

    >>> six_frame("ATGAAATAG")[0], six_frame("ATGAAATAG")[3]
    ((1, 0, 'MK*'), (-1, 0, 'LFH'))
    """
    code = genetic_code(table)
    fwd = nucleotide_masks(seq, unknown=unknown)
    out = []
    for strand, masks in ((1, fwd), (-1, reverse_complement_masks(fwd))):
        for frame in range(3):
            out.append((strand, frame, code.lut[codon_indices(masks, frame)].tobytes().decode("ascii")))
    return out
