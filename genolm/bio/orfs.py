"""Open reading frames: a stop-to-stop ORF finder in numpy, and gene calls through pyrodigal.

Both return :class:`ORF` records on forward-strand coordinates, 0-based and half-open (BED style):
``seq[start:end]`` is the ORF including its stop codon (reverse-complement it when strand is -1).

>>> orfs = find_orfs("CC" + "ATG" + "GCA" * 40 + "TAA" + "GG", min_aa=10)
>>> [(o.start, o.end, o.strand, o.frame, o.length_aa) for o in orfs]
[(2, 128, 1, 2, 41)]
>>> orfs[0].protein[:5]
'MAAAA'
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

from genolm.bio.codon import GeneticCode, genetic_code
from genolm.bio.seq import check_unknown, nucleotide_masks, reverse_complement_masks
from genolm.errors import GenolmError

START_MODES = ("ATG", "table", "any")
ATG = (4 << 8) | (1 << 4) | 8  # codon mask index of ATG (A=4, T=1, G=8)
META_MAX_NT = 100_000  # below this, "auto" gene calling uses Prodigal's metagenomic models


class ORF(NamedTuple):
    """One open reading frame or gene call.

    ``start``/``end``: 0-based half-open on the forward strand, stop codon included when present.
    ``frame``: offset (0-2) of the first codon from the start of its own strand (the reverse
    complement for strand -1), as in ``six_frame``.  ``protein``: no stop symbol; a start codon
    reads as M.  ``partial``: Prodigal's two digits, 1 where the ORF runs off the left / right end
    of the sequence.  ``score``: Prodigal's gene score (None for ``find_orfs``).
    """

    start: int
    end: int
    strand: int
    frame: int
    protein: str
    partial: str = "00"
    score: float | None = None

    @property
    def length_nt(self) -> int:
        return self.end - self.start

    @property
    def length_aa(self) -> int:
        return len(self.protein)


def find_orfs(seq: str | bytes, table: int = 11, *, min_aa: int = 30, starts: str = "ATG",
              both_strands: bool = True, unknown: str = "error") -> list[ORF]:
    """Every ORF of at least ``min_aa`` amino acids that ends in a stop codon, on one or both strands.

    ``starts``: "ATG" (the first ATG after the previous in-frame stop), "table" (the first start
    codon of the genetic code, e.g. ATG/GTG/TTG/... for table 11) or "any" (stop to stop: from
    the codon after the previous stop; where no stop precedes it, from the first codon of the
    frame, flagged partial).  ORFs are sorted by (start, end, strand).

    >>> [o.strand for o in find_orfs("TTA" + "TTT" * 12 + "CAT", min_aa=12)]
    [-1]
    """
    code = genetic_code(table)
    if starts not in START_MODES:
        raise GenolmError("unknown start-codon mode", expected=" | ".join(START_MODES),
                          found=repr(starts))
    if int(min_aa) < 1:
        raise GenolmError("minimum ORF length must be at least one amino acid",
                          expected="min_aa >= 1", found=str(min_aa))
    if code.dual_coding:
        raise GenolmError(f"table {code.id} has context-dependent stop codons "
                          f"({', '.join(code.dual_coding)}), so ORFs cannot be cut at stops",
                          hint="translate whole frames instead")
    fwd = nucleotide_masks(seq, unknown=unknown)
    strands = [(1, fwd), (-1, reverse_complement_masks(fwd))] if both_strands else [(1, fwd)]
    out: list[ORF] = []
    for strand, masks in strands:
        out += _strand_orfs(masks, strand, code, int(min_aa), starts)
    return sorted(out, key=lambda o: (o.start, o.end, o.strand))


def _strand_orfs(masks: np.ndarray, strand: int, code: GeneticCode, min_aa: int, starts: str
                 ) -> list[ORF]:
    """ORFs of one strand, in that strand's coordinates, then mapped to the forward strand."""
    n = len(masks)
    if n < 3:
        return []
    m = masks.astype(np.intp)
    idx = (m[:-2] << 8) | (m[1:-1] << 4) | m[2:]  # (n-2,) codon index starting at every offset
    aa = code.lut[idx]  # (n-2,) translation at every offset; frame f is aa[f::3]
    stop_pos = np.flatnonzero(aa == ord("*"))
    if starts == "ATG":
        start_pos = np.flatnonzero(idx == ATG)
    elif starts == "table":
        start_pos = np.flatnonzero(code.start_lut[idx])
    out = []
    for frame in range(3):
        stops = stop_pos[stop_pos % 3 == frame]
        # Each stop closes the open stretch that begins one codon after the previous stop.
        region = np.concatenate([[frame], stops + 3])[: len(stops)]
        open_5p = np.zeros(len(stops), dtype=bool)
        if starts == "any":
            begin, ok = region, np.ones(len(stops), dtype=bool)
            open_5p[:1] = True
        else:
            cand = start_pos[start_pos % 3 == frame]
            if not len(cand):
                continue
            # The first start codon at or after the stretch begins; it must come before the stop.
            begin = cand[np.minimum(np.searchsorted(cand, region), len(cand) - 1)]
            ok = (begin >= region) & (begin < stops)
        ok &= (stops - begin) // 3 >= min_aa
        for b, s, o in zip(begin[ok].tolist(), stops[ok].tolist(), open_5p[ok].tolist()):
            protein = aa[b:s:3].tobytes().decode("ascii")
            if starts != "any":
                protein = "M" + protein[1:]
            if strand == 1:
                out.append(ORF(b, s + 3, 1, frame, protein, "10" if o else "00"))
            else:
                out.append(ORF(n - s - 3, n - b, -1, frame, protein, "01" if o else "00"))
    return out


# ----------------------------------------------------------------------------- pyrodigal


def gene_finder(seqs: Iterable[str | bytes], *, meta: bool | None = None, table: int | None = None,
                min_aa: int = 30, unknown: str = "error"):
    """A ``pyrodigal.GeneFinder`` for these sequences (contigs of one genome, or a metagenome).

    ``meta=None`` picks Prodigal's metagenomic models when the sequences total < 100 kb and
    otherwise trains on them (single mode; needs >= 20 kb).  ``table=None`` means table 11 in
    single mode and, in meta mode, all 50 models of tables 11 and 4, exactly as ``prodigal -p
    meta`` does (so the calls match the original tool); a given ``table`` keeps only its models.

    >>> gene_finder(["ACGT" * 100]).meta
    True
    """
    import pyrodigal

    code = genetic_code(11 if table is None else table)
    data = [check_unknown(s, unknown) for s in seqs]
    if meta is None:
        meta = sum(map(len, data)) < META_MAX_NT
    min_gene = 3 * int(min_aa)
    kw = dict(min_gene=min_gene, min_edge_gene=min(60, min_gene), max_overlap=min(60, min_gene))
    if meta and table is None:
        return pyrodigal.GeneFinder(meta=True, **kw)
    if meta:
        bins = [b for b in pyrodigal.METAGENOMIC_BINS if b.training_info.translation_table == code.id]
        if not bins:
            raise GenolmError(f"Prodigal has no metagenomic models for table {code.id}",
                              expected="table 11 or 4 in meta mode", found=str(code.id),
                              hint="train on the genome instead (meta=False, --mode single)")
        return pyrodigal.GeneFinder(meta=True, metagenomic_bins=pyrodigal.MetagenomicBins(bins), **kw)
    if code.id not in pyrodigal.TRANSLATION_TABLES:
        raise GenolmError(f"Prodigal cannot train with table {code.id}",
                          expected=", ".join(map(str, sorted(pyrodigal.TRANSLATION_TABLES))),
                          found=str(code.id))
    finder = pyrodigal.GeneFinder(**kw)
    try:
        finder.train(*data, translation_table=code.id)
    except ValueError as err:  # e.g. "sequence must be at least 20000 characters"
        raise GenolmError(f"cannot train Prodigal on these sequences ({err})",
                          hint="use metagenomic mode (meta=True, --mode meta) for short input") from None
    return finder


def call_genes(seq: str | bytes, *, meta: bool | None = None, table: int | None = None, min_aa: int = 30,
               finder=None, unknown: str = "error") -> list[ORF]:
    """Protein-coding genes of one sequence, called by Prodigal (pyrodigal), as :class:`ORF` records.

    Pass ``finder`` (from :func:`gene_finder`) to call many contigs with one trained model;
    otherwise one is made for this sequence alone (``meta``, ``table``, ``min_aa`` as there).

    >>> genes = call_genes("TTTTTTAAGGAGGTTTTTT" + "ATG" + "GCAAAAGAA" * 40 + "TAA" + "TTTTTTT")
    >>> [(g.start, g.end, g.strand, g.partial, g.length_aa) for g in genes]
    [(19, 385, 1, '00', 121)]
    """
    data = check_unknown(seq, unknown)
    if finder is None:
        finder = gene_finder([data], meta=meta, table=table, min_aa=min_aa)
    n = len(data)
    out = []
    for g in finder.find_genes(data):
        start, end = g.begin - 1, g.end  # pyrodigal: 1-based, inclusive
        frame = start % 3 if g.strand == 1 else (n - end) % 3
        out.append(ORF(start, end, g.strand, frame, g.translate(include_stop=False, strict=False),
                       f"{int(g.partial_begin)}{int(g.partial_end)}", float(g.score)))
    return out
