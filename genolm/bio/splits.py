"""Honest train / validation / test splits of a collection of genomes, for held-out bits per base.

Strains of one species share most of their sequence, so a random split of windows measures
memory, not modelling.  Two splits hold out something a model cannot have memorised:

* :func:`region_split` (*unseen region*): the first 90% of every record trains, the last 10% of
  the records of the chosen species is the test set (the last 10% of the other species' records
  is used for nothing, so the training set is the same whichever species are tested);
* :func:`species_split` (*unseen species*): whole genomes of some species train, another
  species is the test set;

and, labelled as the memory test it is, :func:`random_window_split` (*random*: windows assigned
to train or test at random).

Validation always comes out of the training side, never out of the test set: the last 5% of
each training piece, 5% of the training windows, or, for an unseen-species test,
leave-one-species-out folds (``Split.folds``).  It should look like the test set, so where the
test set is sequence absent from training, :func:`clean_validation` sets aside the validation
windows that are near copies of training sequence (other strains often hold them elsewhere).
Everything is deterministic: the same genomes in the same order give the same split.

>>> g = [Genome("A__1", "A", [("r", "ACGT" * 50)]), Genome("B__1", "B", [("r", "GGCA" * 50)])]
>>> s = region_split(g, test_species=["B"])
>>> s.sizes()
{'train': 342, 'val': 18, 'test': 20}
>>> [p.name for p in s.test]
['B__1/r:180-200']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from genolm.bio.kmers import kmer_codes
from genolm.errors import GenolmError
from genolm.io.seqio import read_records


@dataclass(frozen=True)
class Piece:
    """``seq`` = bases ``start:end`` (0-based, end exclusive) of record ``source`` (``genome/record``)."""

    source: str
    start: int
    end: int
    seq: str

    @property
    def name(self) -> str:
        return f"{self.source}:{self.start}-{self.end}"


@dataclass(frozen=True)
class Genome:
    """One genome file: ``name`` (file name without extensions), ``species``, ``records`` (id, seq)."""

    name: str
    species: str
    records: list[tuple[str, str]]

    @property
    def n_bases(self) -> int:
        return sum(len(s) for _, s in self.records)


@dataclass
class Split:
    """Lists of train, validation and test pieces; ``description`` says how they were made."""

    name: str
    description: str
    train: list[Piece] = field(default_factory=list)
    val: list[Piece] = field(default_factory=list)
    test: list[Piece] = field(default_factory=list)
    dropped: list[Piece] = field(default_factory=list)  # training side, in neither train nor val
    # Cross-validation instead of one validation set: (pieces to count, pieces to validate on).
    folds: list[tuple[list[Piece], list[Piece]]] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def training_side(self) -> list[str]:
        """Every sequence the test set may be conditioned on: train, validation and dropped."""
        return [p.seq for p in self.train + self.val + self.dropped]

    def seqs(self, part: str) -> list[str]:
        """The sequences of ``part`` ("train", "val" or "test")."""
        return [p.seq for p in getattr(self, part)]

    def sizes(self) -> dict[str, int]:
        """Bases in each part (and in ``dropped``, if any)."""
        parts = ("train", "val", "test") + (("dropped",) if self.dropped else ())
        return {part: sum(len(p.seq) for p in getattr(self, part)) for part in parts}


# ----------------------------------------------------------------------------- loading


def genome_name(path: str | os.PathLike) -> str:
    """File name without sequence/compression extensions: ``E.Coli__DH1.fasta.gz`` -> ``E.Coli__DH1``."""
    name = Path(path).name
    for ext in (".gz", ".bz2", ".xz", ".zst", ".fasta", ".fa", ".fna", ".fastq", ".fq"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name


def load_genomes(paths: Iterable[str | os.PathLike]) -> list[Genome]:
    """Read genome files named ``Species__Strain.fasta[.gz]`` (upper-cased), sorted by name.

    The species is the part of the file name before ``__``; a file without ``__`` is its own
    species.
    """
    genomes = []
    for path in sorted(map(Path, paths), key=lambda p: p.name):
        name = genome_name(path)
        records = [(r.id, r.seq) for r in read_records(path, case="upper")]
        genomes.append(Genome(name, name.split("__")[0], records))
    if not genomes:
        raise GenolmError("no genome files", expected="one or more FASTA files", found="none")
    return genomes


def _species(genomes: Sequence[Genome], names: Iterable[str], what: str) -> set[str]:
    names = set(names)
    known = {g.species for g in genomes}
    if not names or names - known:
        raise GenolmError(f"unknown {what} species", expected=" | ".join(sorted(known)),
                          found=", ".join(sorted(names - known)) or "none")
    return names


def _piece(g: Genome, rid: str, seq: str, lo: int, hi: int) -> Piece:
    return Piece(f"{g.name}/{rid}", lo, hi, seq[lo:hi])


def _train_val(g: Genome, rid: str, seq: str, lo: int, hi: int, val_fraction: float) -> tuple[Piece, Piece]:
    """seq[lo:hi] as (training piece, validation piece = its last ``val_fraction``)."""
    cut = hi - int(round((hi - lo) * val_fraction))
    return _piece(g, rid, seq, lo, cut), _piece(g, rid, seq, cut, hi)


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise GenolmError(f"{name} out of range", expected="a fraction in [0, 1)", found=repr(value))


# ----------------------------------------------------------------------------- the splits


def region_split(genomes: Sequence[Genome], test_species: Iterable[str], *, test_fraction: float = 0.1,
                 val_fraction: float = 0.05, name: str = "region") -> Split:
    """Unseen region: train on the first ``1 - test_fraction`` of every record; test on the rest
    of the records of ``test_species``.  Validation: the last ``val_fraction`` of each training
    piece (so it, too, is a region the counts have not seen)."""
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("val_fraction", val_fraction)
    tested = _species(genomes, test_species, "test")
    split = Split(name, f"train: first {1 - test_fraction:.0%} of every record of every genome "
                        f"(validation: the last {val_fraction:.0%} of that); test: last "
                        f"{test_fraction:.0%} of each record of {', '.join(sorted(tested))}")
    for g in genomes:
        for rid, seq in g.records:
            cut = len(seq) - int(round(len(seq) * test_fraction))
            tr, va = _train_val(g, rid, seq, 0, cut, val_fraction)
            split.train.append(tr)
            split.val.append(va)
            if g.species in tested:
                split.test.append(_piece(g, rid, seq, cut, len(seq)))
    return split


def species_split(genomes: Sequence[Genome], test_species: Iterable[str], *, val: str = "tail",
                  val_fraction: float = 0.05, name: str = "species") -> Split:
    """Unseen species: train on every genome not of ``test_species``, test on all of them.

    ``val="tail"``: validation is the last ``val_fraction`` of each training record.
    ``val="species"``: leave-one-species-out folds instead, which ask of the model what the test
    asks (a species it has not seen): ``split.folds`` holds, for each training species, (the
    other training species, that species); ``train`` is all of the training species and ``val``
    is empty.  Needs at least two training species.
    """
    _check_fraction("val_fraction", val_fraction)
    if val not in ("tail", "species"):
        raise GenolmError("unknown validation design", expected="tail | species", found=repr(val))
    tested = _species(genomes, test_species, "test")
    trained = sorted({g.species for g in genomes} - tested)
    if len(trained) < (2 if val == "species" else 1):
        raise GenolmError("no species left to train on" if not trained else
                          "leave-one-species-out validation needs two training species",
                          expected="at least " + ("two species" if val == "species" else "one species")
                          + " not tested", found=", ".join(trained) or "none")
    how = (f"the last {val_fraction:.0%} of each record" if val == "tail"
           else "leave-one-species-out folds")
    split = Split(name, f"train: all of {', '.join(trained)} (validation: {how}); "
                        f"test: all of {', '.join(sorted(tested))}")
    by_species: dict[str, list[Piece]] = {sp: [] for sp in trained}
    for g in genomes:
        for rid, seq in g.records:
            if g.species in tested:
                split.test.append(_piece(g, rid, seq, 0, len(seq)))
            elif val == "species":
                piece = _piece(g, rid, seq, 0, len(seq))
                split.train.append(piece)
                by_species[g.species].append(piece)
            else:
                tr, va = _train_val(g, rid, seq, 0, len(seq), val_fraction)
                split.train.append(tr)
                split.val.append(va)
    if val == "species":
        split.folds = [([p for other in trained if other != sp for p in by_species[other]], by_species[sp])
                       for sp in trained]
    return split


def random_window_split(genomes: Sequence[Genome], *, window: int = 1000, test_fraction: float = 0.1,
                        val_fraction: float = 0.05, seed: int = 0, name: str = "random") -> Split:
    """Random windows (a memory test when strains share sequence): cut every record into
    ``window``-base windows (the last one shorter), draw ``test_fraction`` of them for test and
    ``val_fraction`` of the rest for validation.  Test windows are scored one by one; runs of
    consecutive training (or validation) windows are joined into one piece, so the k-mers across
    their boundaries are training data too."""
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("val_fraction", val_fraction)
    if not (isinstance(window, int) and window > 0):
        raise GenolmError("window must be a positive integer", found=repr(window))
    rng = np.random.default_rng(seed)
    split = Split(name, f"{window} bp windows of every record, {test_fraction:.0%} at random for test, "
                        f"{val_fraction:.0%} of the rest for validation (seed {seed}); strains share "
                        "sequence, so this measures memory as much as modelling")
    for g in genomes:
        for rid, seq in g.records:
            n = -(-len(seq) // window)
            u = rng.random((n, 2))  # one draw for test, one for validation, per window
            part = np.where(u[:, 0] < test_fraction, 2, np.where(u[:, 1] < val_fraction, 1, 0))
            starts = np.arange(n) * window
            for i in np.flatnonzero(part == 2):
                split.test.append(_piece(g, rid, seq, int(starts[i]), min(int(starts[i]) + window, len(seq))))
            # Runs of equal part: boundaries where the part changes.
            edges = np.flatnonzero(np.diff(part)) + 1
            for lo, hi in zip(np.concatenate([[0], edges]), np.concatenate([edges, [n]])):
                if part[lo] < 2:
                    piece = _piece(g, rid, seq, int(starts[lo]), min(int(hi) * window, len(seq)))
                    (split.val if part[lo] == 1 else split.train).append(piece)
    return split


# ----------------------------------------------------------------------------- near copies


@dataclass(frozen=True)
class NearCopies:
    """What :func:`drop_near_copies` kept and dropped."""

    kept: list[Piece]
    dropped: list[Piece]
    n_windows: int
    n_dropped: int
    bases_dropped: int


def kmer_set(pieces: Iterable[Piece], k: int = 24) -> np.ndarray:
    """Sorted unique canonical ``k``-mer codes of ``pieces`` (both strands), for :func:`shared_fraction`."""
    codes = [kmer_codes(p.seq, k, canonical=True, unknown="n") for p in pieces]
    if not codes:
        return np.zeros(0, np.uint64)
    codes = np.concatenate(codes)
    codes.sort()  # sort + drop repeats: several times faster than np.unique here
    return codes[np.concatenate([[True], codes[1:] != codes[:-1]])]


def shared_fraction(seq: str, reference: np.ndarray, k: int = 24) -> float:
    """Fraction of the canonical ``k``-mers of ``seq`` found in ``reference`` (:func:`kmer_set`);
    0.0 when ``seq`` has no k-mer of A/C/G/T.

    >>> ref = kmer_set([Piece("x", 0, 8, "ACGTTGCA")], k=4)
    >>> shared_fraction("ACGTAAAA", ref, k=4)
    0.2
    """
    codes = kmer_codes(seq, k, canonical=True, unknown="n")
    if not len(codes) or not len(reference):
        return 0.0
    at = np.minimum(np.searchsorted(reference, codes), len(reference) - 1)
    return float((reference[at] == codes).mean())


def drop_near_copies(pieces: Sequence[Piece], reference: np.ndarray, *, k: int = 24, window: int = 1000,
                     max_shared: float = 0.5) -> NearCopies:
    """Cut ``pieces`` into ``window``-base windows and drop those that share more than
    ``max_shared`` of their canonical ``k``-mers with ``reference`` (:func:`kmer_set` of the
    training set); the windows kept are joined again where they were consecutive.

    Why: a region held out of one strain is often in the training part of another strain,
    placed elsewhere by a rearrangement or a different origin of the assembly (in the shared
    bacteria, most V. cholerae validation windows are such copies).  A validation set full of
    copies teaches the weights to trust long contexts that do not exist in an unseen region or
    species.  Only validation is filtered this way; a test set stays what its split says it is.
    """
    out: tuple[list[Piece], list[Piece]] = ([], [])  # kept, dropped
    n_windows = n_dropped = 0
    for p in pieces:
        starts = list(range(p.start, p.end, window))
        copy = [shared_fraction(p.seq[w - p.start: w - p.start + window], reference, k) > max_shared
                for w in starts]
        n_windows += len(starts)
        n_dropped += sum(copy)
        # Join runs of consecutive windows with the same verdict.
        run = 0
        for i in range(1, len(starts) + 1):
            if i == len(starts) or copy[i] != copy[run]:
                lo, hi = starts[run], starts[i] if i < len(starts) else p.end
                out[copy[run]].append(Piece(p.source, lo, hi, p.seq[lo - p.start: hi - p.start]))
                run = i
    bases = sum(len(q.seq) for q in out[1])
    return NearCopies(out[0], out[1], n_windows, n_dropped, bases)


# The 16 bacteria of the shared data: E. coli x2, H. pylori x5, S. aureus x5, V. cholerae x4.
BACTERIA_REGION_TEST = ("H.Pylori", "S.Aureus")
BACTERIA_SPECIES_TEST = ("V.Cholerae",)


def bacteria_splits(genomes: Sequence[Genome], *, clean_val: bool = True, species_val: str = "species"
                    ) -> dict[str, Split]:
    """The three splits of the bacterial benchmark: region (a), species (b), random (c).

    ``clean_val``: in (a), whose test set is sequence absent from training, validation windows
    that are near copies of training sequence are set aside (:func:`drop_near_copies`), so that
    validation looks like the test set; so too in (b) when ``species_val="tail"``.  (b) uses
    leave-one-species-out folds by default (``species_val="species"``).  (c) keeps its random
    validation windows, as its test set is random windows too.
    """
    splits = {
        "region": region_split(genomes, BACTERIA_REGION_TEST),
        "species": species_split(genomes, BACTERIA_SPECIES_TEST, val=species_val),
        "random": random_window_split(genomes),
    }
    if clean_val:
        for split in (splits["region"], splits["species"]):
            if split.val:
                clean_validation(split)
    return splits


def clean_validation(split: Split, *, reference: np.ndarray | None = None, k: int = 24, window: int = 1000,
                     max_shared: float = 0.5) -> Split:
    """Move the validation windows of ``split`` that are near copies of its training set to
    ``split.dropped`` (in place; counts in ``split.notes["val_near_copies"]``).  ``reference``:
    :func:`kmer_set` of ``split.train`` with this ``k``, if already made."""
    if reference is None:
        reference = kmer_set(split.train, k)
    result = drop_near_copies(split.val, reference, k=k, window=window, max_shared=max_shared)
    split.val = result.kept
    split.dropped += result.dropped
    split.notes["val_near_copies"] = dict(k=k, window=window, max_shared=max_shared, windows=result.n_windows,
                                          dropped=result.n_dropped, bases_dropped=result.bases_dropped)
    split.description += (f"; validation windows ({window} bp) sharing > {max_shared:.0%} of their {k}-mers "
                          f"with training dropped ({result.n_dropped} of {result.n_windows})")
    return split
