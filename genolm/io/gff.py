"""Gene annotations in GFF3: the coding sequences (CDS) of a reference genome, with a name for each.

Only what genome design needs is read: ``seqid``, ``type``, ``start`` and ``end`` (1-based,
inclusive), ``strand`` and the attributes.  A feature of a circular genome may run past its end
(a "pseudo-circular" annotation: phiX174's gene A is annotated 3953..5522 on a 5,386 bp genome);
the coordinates are kept as written and :func:`genolm.bio.circular.feature_sequence` reads them
around the origin.

A gene's name is its ``gene`` or ``Name`` attribute, else its ``product`` (and ``ID`` when two
share a product).  A malformed line is one error naming the file and line.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.gff"
>>> _ = p.write_text("##gff-version 3\\nchr\\tx\\tCDS\\t3\\t8\\t.\\t+\\t0\\tID=c1;product=spike protein\\n")
>>> [(f.name, f.start, f.end, f.strand) for f in read_cds(p)]
[('spike protein', 3, 8, '+')]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import unquote

from genolm.errors import GenolmError


@dataclass(frozen=True)
class Feature:
    seqid: str
    type: str
    start: int  # 1-based, inclusive; may exceed the genome's length on a circular genome
    end: int
    strand: str  # "+" or "-"
    attributes: dict = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """``gene``, ``Name``, ``product`` or ``ID``, the first that says something."""
        for key in ("gene", "Name", "product", "ID"):
            value = self.attributes.get(key, "").strip()
            if value and value.lower() not in ("nan", "na", "none", "unknown", "hypothetical protein"):
                return value
        return f"{self.start}-{self.end}"

    def __len__(self) -> int:
        return self.end - self.start + 1


def read_gff(path: str | os.PathLike, types: tuple[str, ...] | None = None) -> list[Feature]:
    """Every feature of ``path`` (of ``types`` only, when given), in file order."""
    out = []
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise GenolmError("no such annotation file", file=path) from None
    except UnicodeDecodeError:
        raise GenolmError("not a text file", file=path, expected="GFF3 text") from None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 9:
            raise GenolmError("not a GFF3 feature line", file=path, line=n, expected="9 tab-separated columns",
                              found=f"{len(cols)} column{'s' if len(cols) != 1 else ''}")
        seqid, _, kind, start, end, _, strand, _, attrs = cols
        if types is not None and kind not in types:
            continue
        try:
            lo, hi = int(start), int(end)
        except ValueError:
            raise GenolmError("start and end must be whole numbers", file=path, line=n,
                              found=f"{start!r}, {end!r}") from None
        if not 1 <= lo <= hi:
            raise GenolmError("a feature must run from start to end, 1-based", file=path, line=n,
                              expected="1 <= start <= end", found=f"{lo}..{hi}")
        if strand not in ("+", "-"):
            raise GenolmError("a coding feature needs a strand", file=path, line=n, expected="+ or -",
                              found=repr(strand))
        pairs = {}
        for item in filter(None, (a.strip() for a in attrs.split(";"))):
            key, sep, value = item.partition("=")
            if not sep:
                raise GenolmError("an attribute must be key=value", file=path, line=n, found=repr(item))
            pairs[key.strip()] = unquote(value.strip())
        out.append(Feature(seqid, kind, lo, hi, strand, pairs))
    return out


def read_cds(path: str | os.PathLike) -> list[Feature]:
    """The CDS features of ``path``; an error when there are none."""
    cds = read_gff(path, types=("CDS",))
    if not cds:
        raise GenolmError("no CDS feature in the annotation", file=path, hint="genome design needs the reference's genes")
    return cds

