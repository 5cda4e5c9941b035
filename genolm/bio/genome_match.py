"""A genome against a reference: which of the reference's proteins it encodes, how completely and
in what order (protein alignment with pyopal), and how identical its bases are (edlib).

Genes are looked for in the genome's open reading frames, stop codon to stop codon in all six
frames around the circle, so overlapping genes and genes in other frames (phiX174 has both) are
found whether or not a gene caller would pick them.  A reference protein's best Smith-Waterman hit
(BLOSUM62) gives its ``score`` (over the protein's score against itself: near 1 for a close
homolog, about 0.1 for a chance hit in random sequence), ``identity`` (identical residues over the
alignment's columns), ``coverage`` (the share of the reference protein aligned) and ``length``
(the reading frame's length from the hit on, over the protein's): a premature stop cuts the
frame short, and a frameshift reads on in the wrong frame to a stop elsewhere, so both move
``length`` away from 1 and lower the score.

>>> from genolm.bio.codon import translate
>>> gene = "ATG" + "GCTAAACGTGAAGTTCTGGATATCCATAGCTGGTTC" * 4 + "TAA"
>>> genome = "TAATAATAA" + gene + "TGATGATGA"
>>> hit = protein_hits({"x": translate(gene, 11, to_stop=True)}, genome)["x"]
>>> hit.coverage, round(hit.identity, 2), hit.score, hit.position, hit.strand
(1.0, 1.0, 1.0, 9, 1)
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from genolm.bio.circular import in_register
from genolm.bio.kmers import kmer_codes
from genolm.bio.orfs import find_orfs
from genolm.errors import GenolmError


class ProteinHit(NamedTuple):
    """The best hit of a reference protein in a genome (``coverage`` 0: none)."""

    identity: float  # identical residues / alignment columns (gaps included)
    coverage: float  # aligned residues of the reference protein / its length
    score: float  # alignment score / the protein's score against itself (1: the protein itself)
    position: int  # 0-based forward-strand coordinate of the hit's first codon (-1: no hit)
    strand: int
    length: float = 0.0  # codons from the hit's first to the reading frame's stop / the protein's length


NO_HIT = ProteinHit(0.0, 0.0, 0.0, -1, 0)


def _identity(result) -> float:
    """Identical residues over every column of a pyopal alignment (``M`` a match, ``X`` a
    mismatch, ``I``/``D`` a gap)."""
    columns = result.alignment
    return columns.count("M") / len(columns) if columns else 0.0


def circular_orfs(genome: str, table: int = 11, min_aa: int = 20):
    """Stop-to-stop open reading frames of a circular genome, both strands, with coordinates mod
    its length (an ORF across the origin ends past it).  Read on three copies of the genome, so
    every ORF shorter than the genome is whole in the middle one."""
    n = len(genome)
    if n == 0:
        return []
    orfs = find_orfs(genome * 3, table, min_aa=min_aa, starts="any", unknown="n")
    out = []
    for o in orfs:
        if n <= o.start < 2 * n and o.partial == "00" and o.end - o.start < n:
            out.append(o._replace(start=o.start - n, end=o.end - n))
    return out


def protein_hits(proteins: dict[str, str], genome: str, table: int = 11, orfs=None) -> dict[str, ProteinHit]:
    """The best hit of each reference protein among the open reading frames of the circular ``genome``."""
    import pyopal

    orfs = circular_orfs(genome, table) if orfs is None else orfs
    if not orfs:
        return {name: NO_HIT for name in proteins}
    targets = [o.protein.replace("*", "") or "X" for o in orfs]
    db = pyopal.Database(targets)
    out = {}
    for name, protein in proteins.items():
        if not protein:
            raise GenolmError("an empty reference protein", record=name)
        self_score = next(iter(pyopal.align(protein, [protein], algorithm="sw", threads=1))).score
        results = list(pyopal.align(protein, db, mode="full", algorithm="sw", threads=1, ordered=True))
        best = max(results, key=lambda r: r.score)
        if best.score <= 0:
            out[name] = NO_HIT
            continue
        o = orfs[best.target_index]
        codon = 3 * best.target_start
        position = o.start + codon if o.strand == 1 else o.end - 1 - codon
        coverage = (best.query_end - best.query_start + 1) / len(protein)
        length = (len(targets[best.target_index]) - best.target_start + best.query_start) / len(protein)
        out[name] = ProteinHit(_identity(best), float(coverage), best.score / self_score, int(position) % len(genome),
                               o.strand, float(length))
    return out


def cyclic_order(names: list[str], positions: list[int]) -> list[str]:
    """``names`` sorted by position, rotated to start with the alphabetically first name (so two
    genomes' orders compare whatever their starts).

    >>> cyclic_order(["B", "C", "A"], [5, 9, 1]), cyclic_order(["B", "C", "A"], [5, 0, 9])
    (['A', 'B', 'C'], ['A', 'C', 'B'])
    """
    order = [n for _, n in sorted(zip(positions, names))]
    if not order:
        return order
    i = order.index(min(order))
    return order[i:] + order[:i]


def identity(a: str, b: str, k: int = 16) -> float:
    """Base identity of two circular genomes: 1 − edit distance / the longer length, once ``a`` is
    turned to ``b``'s strand and start (edlib, global alignment).

    >>> identity("ACGTTGCAAGGCTTAACG" * 20, "ACGTTGCAAGGCTTAACG" * 20)
    1.0
    """
    import edlib

    if not a or not b:
        return 0.0
    a = in_register(a.upper(), b.upper(), k)[0]
    ed = edlib.align(a, b.upper(), mode="NW", task="distance")["editDistance"]
    return 1.0 - ed / max(len(a), len(b))


def kmer_set(seq: str, k: int = 16) -> np.ndarray:
    """The sorted distinct canonical k-mer codes of ``seq`` (either strand)."""
    return np.unique(kmer_codes(seq, k, canonical=True, unknown="n"))


def shared_kmers(a: str | np.ndarray, b: str | np.ndarray, k: int = 16) -> float:
    """The share of ``a``'s distinct k-mers (either strand) found in ``b`` (each a sequence or its
    :func:`kmer_set`): a quick bound that picks which genomes are worth aligning (98.9% identity
    keeps most 16-mers)."""
    ka = kmer_set(a, k) if isinstance(a, str) else a
    kb = kmer_set(b, k) if isinstance(b, str) else b
    return float(np.isin(ka, kb, assume_unique=True).mean()) if len(ka) else 0.0


def reference_proteins(fasta: str, annotation: str, table: int = 11):
    """An annotated genome: its first record (upper case), its proteins by gene name (each CDS
    translated to its first stop), their start coordinates, and notes on how the GFF was read."""
    from genolm.bio.circular import feature_sequence
    from genolm.bio.codon import translate
    from genolm.io.gff import read_cds
    from genolm.io.seqio import read_records

    rec = next(iter(read_records(fasta, case="upper")), None)
    if rec is None:
        raise GenolmError("no sequence in the reference file", file=fasta)
    cds = read_cds(annotation)
    shift, notes = _coordinate_base(rec.seq, cds, table, annotation)
    proteins, starts = {}, {}
    for f in cds:
        name = f.name if f.name not in proteins else f"{f.name} ({f.attributes.get('ID', f.start)})"
        nt = feature_sequence(rec.seq, f.start + shift, f.end, f.strand)
        proteins[name] = translate(nt[: len(nt) - len(nt) % 3], table, to_stop=True)
        starts[name] = f.start + shift
    return rec, proteins, starts, notes


def _coordinate_base(genome: str, cds, table: int, path: str) -> tuple[int, list[str]]:
    """0 for a standard (1-based) GFF; 1 when every CDS reads as a clean open reading frame only
    from the base after its start (a file written with 0-based starts, as the Evo phage-design
    data's ``NC_001422.1_pseudocircular.gff``)."""

    from genolm.bio.circular import feature_sequence
    from genolm.bio.codon import translate

    def clean(shift: int) -> bool:
        for f in cds:
            nt = feature_sequence(genome, f.start + shift, f.end, f.strand)
            if len(nt) % 3 or "*" in translate(nt, table)[:-1]:
                return False
        return True

    if clean(0) or not clean(1):
        return 0, []
    note = (f"{path}: every CDS reads as a whole open reading frame only from the base after its "
            "start: the starts are taken as 0-based")
    print(f"genolm: note: {note}", file=sys.stderr)
    return 1, [note]
