"""Honest splits of genome collections: what trains, what validates, what tests, and nothing leaks."""

from __future__ import annotations

import doctest
from collections import defaultdict

import numpy as np
import pytest

import genolm.bio.splits as splits_module
from genolm.bio.splits import (Genome, Piece, bacteria_splits, clean_validation, drop_near_copies,
                               kmer_set, load_genomes, random_window_split, region_split, shared_fraction,
                               species_split)
from genolm.errors import GenolmError
from genolm.io.seqio import write_fasta

from conftest import SHARED


def random_dna(rng, n: int) -> str:
    return np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)].tobytes().decode()


@pytest.fixture
def genomes() -> list[Genome]:
    rng = np.random.default_rng(0)
    return [Genome("A__1", "A", [("r1", random_dna(rng, 5000)), ("r2", random_dna(rng, 1234))]),
            Genome("A__2", "A", [("r1", random_dna(rng, 4000))]),
            Genome("B__1", "B", [("r1", random_dna(rng, 3000))]),
            Genome("C__1", "C", [("r1", random_dna(rng, 2500))])]


def coverage(split) -> dict[str, list[tuple[int, int, str]]]:
    """source -> sorted (start, end, part) of every piece of every part."""
    out = defaultdict(list)
    for part in ("train", "val", "test", "dropped"):
        for p in getattr(split, part):
            out[p.source].append((p.start, p.end, part))
    return {k: sorted(v) for k, v in out.items()}


def check_pieces(split, genomes):
    """Every piece's sequence is its stretch of its record, and no two pieces overlap."""
    records = {f"{g.name}/{rid}": seq for g in genomes for rid, seq in g.records}
    for part in ("train", "val", "test", "dropped"):
        for p in getattr(split, part):
            assert p.seq == records[p.source][p.start:p.end] and p.end > p.start
    for source, spans in coverage(split).items():
        for (_, end, _), (start, _, _) in zip(spans, spans[1:]):
            assert end <= start, f"overlap in {source}"
    return records


def test_region_split(genomes):
    s = region_split(genomes, ["A", "B"], test_fraction=0.1, val_fraction=0.05)
    records = check_pieces(s, genomes)
    cov = coverage(s)
    for source, seq in records.items():
        cut = len(seq) - round(len(seq) * 0.1)
        train_end = cut - round(cut * 0.05)
        parts = [part for *_, part in cov[source]]
        assert cov[source][0][:2] == (0, train_end) and cov[source][1][:2] == (train_end, cut)
        if source.startswith("C__"):
            assert parts == ["train", "val"]  # the last 10% of an untested species is unused
        else:
            assert parts == ["train", "val", "test"] and cov[source][2][:2] == (cut, len(seq))


def test_species_split(genomes):
    s = species_split(genomes, ["B"])
    check_pieces(s, genomes)
    assert {p.source for p in s.test} == {"B__1/r1"}
    assert all(not p.source.startswith("B__") for p in s.train + s.val)
    assert s.sizes()["train"] + s.sizes()["val"] == 5000 + 1234 + 4000 + 2500
    with pytest.raises(GenolmError, match="no species left"):
        species_split(genomes, ["A", "B", "C"])


def test_species_split_with_leave_one_species_out_folds(genomes):
    s = species_split(genomes, ["C"], val="species")
    check_pieces(s, genomes)
    assert s.val == [] and s.sizes()["train"] == 5000 + 1234 + 4000 + 3000
    assert [sorted({p.source.split("__")[0] for p in va}) for _, va in s.folds] == [["A"], ["B"]]
    for tr, va in s.folds:
        assert {p.name for p in tr} | {p.name for p in va} == {p.name for p in s.train}
        assert not {p.name for p in tr} & {p.name for p in va}
    with pytest.raises(GenolmError, match="two training species"):
        species_split(genomes, ["B", "C"], val="species")
    with pytest.raises(GenolmError, match="validation design"):
        species_split(genomes, ["C"], val="random")


def test_random_window_split_partitions_every_record_and_is_deterministic(genomes):
    s = random_window_split(genomes, window=100, test_fraction=0.2, val_fraction=0.1, seed=1)
    records = check_pieces(s, genomes)
    for source, spans in coverage(s).items():
        assert spans[0][0] == 0 and spans[-1][1] == len(records[source])
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # no gaps
    assert all(len(p.seq) <= 100 and p.start % 100 == 0 for p in s.test)
    assert 0.1 < s.sizes()["test"] / sum(s.sizes().values()) < 0.3
    again = random_window_split(genomes, window=100, test_fraction=0.2, val_fraction=0.1, seed=1)
    assert [p.name for p in again.test] == [p.name for p in s.test]
    other = random_window_split(genomes, window=100, test_fraction=0.2, val_fraction=0.1, seed=2)
    assert [p.name for p in other.test] != [p.name for p in s.test]


def test_near_copies_are_found_and_set_aside(genomes):
    rng = np.random.default_rng(5)
    train = [Piece("x/r", 0, 5000, genomes[0].records[0][1])]
    copied = genomes[0].records[0][1][1000:2000]  # exactly one window's worth
    val_seq = random_dna(rng, 1000) + copied + random_dna(rng, 500)
    out = drop_near_copies([Piece("y/r", 10, 2510, val_seq)], kmer_set(train), window=1000)
    assert [(p.start, p.end) for p in out.dropped] == [(1010, 2010)]
    assert [(p.start, p.end) for p in out.kept] == [(10, 1010), (2010, 2510)]
    assert (out.n_windows, out.n_dropped, out.bases_dropped) == (3, 1, 1000)
    assert out.kept[0].seq + out.dropped[0].seq + out.kept[1].seq == val_seq
    # Reverse complements count as copies (canonical k-mers).
    from genolm.bio.seq import reverse_complement
    assert shared_fraction(reverse_complement(copied), kmer_set(train)) == 1.0


def test_clean_validation_moves_windows_to_dropped(genomes):
    # A second strain that is the first with a few changes: its validation tail is in A__1's training part.
    g1 = genomes[0]
    seq = g1.records[0][1]
    g2 = Genome("A__2", "A", [("r1", seq[4000:] + seq[:4000])])  # another origin of the same circle
    s = region_split([g1, g2], ["A"], test_fraction=0.1, val_fraction=0.2)
    before = s.sizes()
    clean_validation(s, window=100)
    assert s.sizes()["dropped"] > 0 and s.sizes()["val"] + s.sizes()["dropped"] == before["val"]
    assert s.notes["val_near_copies"]["dropped"] * 100 >= s.sizes()["dropped"] - 100
    assert len(s.training_side()) == len(s.train) + len(s.val) + len(s.dropped)


def test_load_genomes_reads_species_from_file_names(tmp_path):
    write_fasta([("c1", "ACGTACGT"), ("c2", "ggcc")], tmp_path / "Vib.cho__X.fasta.gz")
    write_fasta([("c1", "TTTT")], tmp_path / "plain.fa")
    gs = load_genomes([tmp_path / "plain.fa", tmp_path / "Vib.cho__X.fasta.gz"])
    assert [(g.name, g.species) for g in gs] == [("Vib.cho__X", "Vib.cho"), ("plain", "plain")]
    assert gs[0].records[1] == ("c2", "GGCC") and gs[0].n_bases == 12
    with pytest.raises(GenolmError, match="no genome files"):
        load_genomes([])


def test_bad_arguments(genomes):
    with pytest.raises(GenolmError, match="unknown test species"):
        region_split(genomes, ["Z"])
    with pytest.raises(GenolmError, match="test_fraction"):
        region_split(genomes, ["A"], test_fraction=1.5)
    with pytest.raises(GenolmError, match="window"):
        random_window_split(genomes, window=0)


def test_docstring_examples():
    assert doctest.testmod(splits_module).failed == 0


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "genomes" / "bacteria").is_dir(), reason="shared data not present")
def test_bacteria_splits_on_the_shared_genomes():
    genomes = load_genomes(sorted((SHARED / "genomes" / "bacteria").glob("*.fasta.gz")))
    s = bacteria_splits(genomes)
    assert {p.source.split("__")[0] for p in s["region"].test} == {"H.Pylori", "S.Aureus"}
    assert {p.source.split("__")[0] for p in s["species"].test} == {"V.Cholerae"}
    assert not any(p.source.startswith("V.Cholerae") for p in s["species"].train + s["species"].val)
    total = sum(g.n_bases for g in genomes)
    assert sum(s["random"].sizes().values()) == total
