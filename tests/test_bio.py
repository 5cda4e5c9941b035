"""genolm.bio: reverse complement, transcription, translation, ORFs and k-mers.

Biology invariants as properties (hypothesis), parity with Biopython for every NCBI table,
brute-force references for the vectorised ORF finder and k-mer counter, and known phage lambda
genes (NC_001416.1, shipped as data/lambda.fasta.gz).
"""

from __future__ import annotations

import ast
import functools
import gzip
import random
import warnings
from collections import Counter
from pathlib import Path

import pytest
from Bio.Data import CodonTable
from Bio.Seq import Seq
from Bio.Seq import reverse_complement as bio_rc
from hypothesis import given, settings
from hypothesis import strategies as st

from genolm.bio import (TABLE_IDS, TABLES, back_transcribe, call_genes, find_orfs, gc_content,
                        genetic_code, kmer_counts, kmer_counts_dict, kmer_index, kmer_string,
                        reverse_complement, six_frame, transcribe, translate)
from genolm.errors import GenolmError

REPO = Path(__file__).resolve().parents[1]
IUPAC = "ACGTRYSWKMBDHVN"
DUAL = (27, 28, 31)  # tables whose stop codons may also be read as amino acids

dna = st.text(alphabet=IUPAC + IUPAC.lower(), max_size=200)
rna = st.text(alphabet=IUPAC.replace("T", "U") + IUPAC.replace("T", "U").lower(), max_size=200)


def random_seq(rng: random.Random, n: int, ambiguous: float = 0.05, lower: float = 0.2) -> str:
    out = []
    for _ in range(n):
        c = rng.choice(IUPAC[4:]) if rng.random() < ambiguous else rng.choice("ACGT")
        out.append(c.lower() if rng.random() < lower else c)
    return "".join(out)


def bio_translate(seq: str, table: int, **kw) -> str:
    with warnings.catch_warnings():  # partial codons, dual-coding tables
        warnings.simplefilter("ignore")
        return str(Seq(seq).translate(table=table, **kw))


# ----------------------------------------------------------------------------- seq.py


@given(dna)
def test_reverse_complement_is_an_involution(s):
    assert reverse_complement(reverse_complement(s)) == s


@given(rna)
def test_rna_reverse_complement_is_an_involution(s):
    assert reverse_complement(reverse_complement(s, rna=True), rna=True) == s


@given(dna)
def test_reverse_complement_matches_biopython_and_keeps_case(s):
    assert reverse_complement(s) == bio_rc(s)
    assert reverse_complement(s.encode()) == bio_rc(s).encode()


@pytest.mark.parametrize("seq, rc", [
    ("A", "T"), ("C", "G"), ("R", "Y"), ("K", "M"), ("B", "V"), ("D", "H"), ("S", "S"), ("W", "W"),
    ("N", "N"), ("AAGCTT", "AAGCTT"), ("ATGc", "gCAT"), ("ACGTRYKMBDHVSWN", "NWSBDHVKMRYACGT"),
])
def test_reverse_complement_known_pairs(seq, rc):
    assert reverse_complement(seq) == rc


def test_reverse_complement_of_rna():
    assert reverse_complement("AUGC", rna=True) == "GCAU"
    assert reverse_complement("AUGC") == "GCAT"  # DNA output: U pairs with A


@pytest.mark.parametrize("bad, offset", [("ACGZ", 3), ("AC-T", 2), ("ACé", 2), ("X", 0)])
def test_unknown_characters_raise_with_offset(bad, offset):
    with pytest.raises(GenolmError, match=f"offset {offset}") as info:
        reverse_complement(bad)
    assert repr(bad[offset]) in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_policy_n_replaces_and_bad_policy_fails():
    assert reverse_complement("AC-T", unknown="n") == "ANGT"
    assert transcribe(b"TZ", unknown="n") == b"UN"
    with pytest.raises(GenolmError, match="error | n"):
        reverse_complement("ACGT", unknown="keep")


@given(st.text(alphabet="ACGTRYSWKMBDHVNacgtrysw", max_size=200))
def test_transcription_round_trip(s):
    m = transcribe(s)
    assert "T" not in m.upper() and back_transcribe(m) == s
    assert m == s.replace("T", "U").replace("t", "u")


def test_gc_content():
    assert gc_content("GGCC") == 1.0
    assert gc_content("ATAT") == 0.0
    assert gc_content("GCSWATNN") == 0.5  # S counts as GC, W as AT, N is ignored
    assert gc_content("NNNN") == 0.0
    with pytest.raises(GenolmError):
        gc_content("GCZ")


# ----------------------------------------------------------------------------- codon tables


def test_codon_tables_match_biopython():
    assert set(TABLE_IDS) == set(CodonTable.unambiguous_dna_by_id)
    bases = "TCAG"
    codons = [a + b + c for a in bases for b in bases for c in bases]
    for tid, (_, aa, starts) in TABLES.items():
        t = CodonTable.unambiguous_dna_by_id[tid]
        assert aa == "".join(t.forward_table.get(c, "*") for c in codons), tid
        assert genetic_code(tid).start_codons == [c for c in codons if c in t.start_codons], tid
        assert set(genetic_code(tid).stop_codons) == set(t.stop_codons), tid
        assert bool(genetic_code(tid).dual_coding) == (tid in DUAL)


@pytest.mark.parametrize("table", TABLE_IDS)
def test_translation_matches_biopython(table):
    rng = random.Random(table)
    for n in range(0, 400, 7):  # every length mod 3, with ambiguity codes and lowercase
        s = random_seq(rng, n, ambiguous=0.3)
        assert translate(s, table) == bio_translate(s, table), s
        r = s.replace("T", "U").replace("t", "u")
        assert translate(r, table) == bio_translate(r, table), r
        f = n % 3
        assert translate(s, table, frame=f) == bio_translate(s[f:][: (n - f) // 3 * 3], table)
        if table not in DUAL:
            assert translate(s, table, to_stop=True) == bio_translate(s, table, to_stop=True)


@pytest.mark.parametrize("table", TABLE_IDS)
def test_cds_translation_matches_biopython(table):
    rng = random.Random(table)
    code = genetic_code(table)
    sense = [c for c in CodonTable.unambiguous_dna_by_id[table].forward_table
             if c not in code.stop_codons]
    for start in code.start_codons:
        cds = start + "".join(rng.choice(sense) for _ in range(30)) + rng.choice(code.stop_codons)
        assert translate(cds, table, cds=True) == bio_translate(cds, table, cds=True)


def test_six_frame_matches_biopython():
    s = random_seq(random.Random(1), 301)
    frames = six_frame(s, 11)
    assert [(st_, f) for st_, f, _ in frames] == [(1, 0), (1, 1), (1, 2), (-1, 0), (-1, 1), (-1, 2)]
    rc = bio_rc(s)
    for strand, frame, protein in frames:
        t = (s if strand == 1 else rc)[frame:]
        assert protein == bio_translate(t[: len(t) // 3 * 3], 11)


def test_translation_resolves_ambiguity():
    assert translate("GGNTARTRAMGRRAYSARATHNNNMGN") == "G**RBZIXX"


@pytest.mark.parametrize("call, match", [
    (lambda: translate("ATG", 99), "expected one of 1, 2, 3, 4, 5, 6, 9, 10"),
    (lambda: translate("ATG", 7), "found 7"),
    (lambda: translate("ATGZAA"), "offset 3"),
    (lambda: translate("ATG", frame=3), "reading frame"),
    (lambda: translate("ATG", 27, to_stop=True), "TGA"),
    (lambda: translate("AAATAA", cds=True), "not a start codon"),
    (lambda: translate("ATGAAA", cds=True), "not a stop codon"),
    (lambda: translate("ATGTAAAAATAA", cds=True), "at codon 2"),
    (lambda: translate("ATGAAATA", cds=True), "multiple of 3"),
])
def test_translation_errors(call, match):
    with pytest.raises(GenolmError, match=match):
        call()


# ----------------------------------------------------------------------------- lambda genes


@functools.lru_cache(maxsize=1)
def lambda_genome() -> str:
    with gzip.open(REPO / "data" / "lambda.fasta.gz", "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[0].startswith(">") and "NC_001416.1" in lines[0]
    return "".join(lines[1:])


# name: (start, end as in GenBank, 1-based inclusive; strand; protein length; first/last residues)
LAMBDA_GENES = {
    "nu1": (191, 736, +1, 181, "MEVNKKQLADIFGASIRTIQNWQEQGMPVL", "LLSEYIEQSG"),
    "A": (711, 2636, +1, 641, "MNISNSQVNRLRHFVRAGLRSLFRPEPQTA", "YARALSGEDE"),  # GTG start
    "E": (6135, 7160, +1, 341, "MSMYTTAQLLAANEQKFKFDPLFLRLFFRE", "PDEFVSVQLA"),
    "J": (15505, 18903, +1, 1132, "MGKGSSKGHTPREAKDNLKSTQLLSVIDAI", "KKQALGISVV"),
    "N": (35037, 35360, -1, 107, "MDAQTRRRERRAEKQAQWKAANPLLVGVSA", "KIKGKSIPLI"),
    "cI": (37227, 37940, -1, 237, "MSTKKKPLTQEQLEDARRLKAIYEKKKNELGLSQESVADKMGMGQSGVGALFNGINALNAY"
                                  "NAALLAKILKVSVEEFSPSIAREIYEMYEAVS", "ASQWPEETFG"),
    "cro": (38041, 38241, +1, 66, "MEQRITLKDYAMRFGQTKTAKDLGVYQSAINKAIHAGRKIFLTINADGSVYAEEVKPFPSNKK"
                                  "TTA", "PFPSNKKTTA"),
}


def test_lambda_genome_is_shipped():
    assert len(lambda_genome()) == 48_502


@pytest.mark.parametrize("name", LAMBDA_GENES)
def test_lambda_genes_translate(name):
    start, end, strand, length, head, tail = LAMBDA_GENES[name]
    cds = lambda_genome()[start - 1: end]
    if strand < 0:
        cds = reverse_complement(cds)
    protein = translate(cds, 11, cds=True)
    assert (len(protein), protein[: len(head)], protein[-10:]) == (length, head, tail)


def test_lambda_orfs_contain_known_genes():
    genome = lambda_genome()
    orfs = {starts: find_orfs(genome, 11, min_aa=30, starts=starts) for starts in ("ATG", "table")}
    for name, (start, end, strand, length, head, _) in LAMBDA_GENES.items():
        starts = "table" if name == "A" else "ATG"
        hits = [o for o in orfs[starts] if o.strand == strand
                and (o.end == end if strand > 0 else o.start == start - 1)]
        assert len(hits) == 1, name
        orf = hits[0]
        # The longest-ORF rule may take an upstream in-frame start (it does for N).
        assert orf.protein.endswith(translate(
            reverse_complement(genome[start - 1:end]) if strand < 0 else genome[start - 1:end],
            11, cds=True)[1:]), name
        if name != "N":
            assert (orf.start, orf.end, orf.length_aa) == (start - 1, end, length), name


def test_prodigal_calls_known_lambda_genes():
    genes = {(g.start, g.end, g.strand): g for g in call_genes(lambda_genome())}  # < 100 kb: meta
    for name, (start, end, strand, length, head, tail) in LAMBDA_GENES.items():
        g = genes[(start - 1, end, strand)]
        assert (g.length_aa, g.protein[:10], g.partial) == (length, head[:10], "00"), name
        assert g.score > 0
        assert g.frame == ((start - 1) % 3 if strand > 0 else (48_502 - end) % 3), name


# ----------------------------------------------------------------------------- ORFs vs brute force


@functools.lru_cache(maxsize=None)
def _bio_codon(codon: str, table: int) -> str:
    return bio_translate(codon, table)


def brute_force_orfs(s: str, table: int, min_aa: int, starts: str) -> set[tuple]:
    """Codon-by-codon scan, independent of genolm (Biopython translation and reverse complement)."""
    start_codons = set(CodonTable.unambiguous_dna_by_id[table].start_codons)
    n, found = len(s), set()
    for strand, t in ((1, s.upper()), (-1, bio_rc(s).upper())):
        for frame in range(3):
            region, begin, first = frame, None, True
            for i in range(frame, n - 2, 3):
                codon = t[i: i + 3]
                if _bio_codon(codon, table) == "*":
                    b = region if starts == "any" else begin
                    if b is not None and (i - b) // 3 >= min_aa:
                        protein = "".join(_bio_codon(t[j: j + 3], table) for j in range(b, i, 3))
                        if starts != "any":
                            protein = "M" + protein[1:]
                        partial = "00" if not (starts == "any" and first) else (
                            "10" if strand == 1 else "01")
                        coords = (b, i + 3) if strand == 1 else (n - i - 3, n - b)
                        found.add((*coords, strand, frame, protein, partial))
                    region, begin, first = i + 3, None, False
                elif begin is None and (codon == "ATG" if starts == "ATG" else codon in start_codons):
                    begin = i
    return found


@pytest.mark.parametrize("table", [1, 2, 4, 11, 14, 23])
@pytest.mark.parametrize("starts", ["ATG", "table", "any"])
def test_find_orfs_matches_brute_force(table, starts):
    rng = random.Random(table * 7 + len(starts))
    for trial in range(6):
        s = random_seq(rng, rng.randint(0, 1500), ambiguous=0.02)
        min_aa = rng.choice([1, 5, 20])
        got = {(*o[:5], o.partial) for o in find_orfs(s, table, min_aa=min_aa, starts=starts)}
        assert got == brute_force_orfs(s, table, min_aa, starts), (table, starts, trial)


def test_find_orfs_options_and_errors():
    s = "ATG" + "AAA" * 40 + "TAA"
    assert [o.strand for o in find_orfs(s + reverse_complement(s), min_aa=10)] == [1, -1]
    assert [o.strand for o in find_orfs(s + reverse_complement(s), min_aa=10, both_strands=False)] == [1]
    assert find_orfs(s, min_aa=42) == []
    for kw, match in [({"starts": "GTG"}, "start-codon mode"), ({"min_aa": 0}, "at least one"),
                      ({"table": 27}, "context-dependent"), ({"table": 8}, "found 8")]:
        with pytest.raises(GenolmError, match=match):
            find_orfs(s, **kw)


# ----------------------------------------------------------------------------- k-mers


def brute_force_kmers(s: str, k: int, canonical: bool) -> Counter:
    s = s.upper().replace("U", "T")
    out = Counter()
    for i in range(len(s) - k + 1):
        w = s[i: i + k]
        if set(w) <= set("ACGT"):
            out[min(w, bio_rc(w)) if canonical else w] += 1
    return out


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ACGTNacgtnRU", max_size=300), st.integers(1, 7), st.booleans())
def test_kmer_counts_match_counter(s, k, canonical):
    expected = brute_force_kmers(s, k, canonical)
    counts = kmer_counts(s, k, canonical=canonical)
    assert counts.shape == (4 ** k,) and int(counts.sum()) == sum(expected.values())
    assert {kmer_string(int(i), k): int(counts[i]) for i in counts.nonzero()[0]} == dict(expected)
    assert kmer_counts_dict(s, k, canonical=canonical) == dict(sorted(expected.items()))


def test_kmer_counts_large_k_and_helpers():
    s = random_seq(random.Random(3), 5000, ambiguous=0.01)
    for k in (13, 21, 31):
        for canonical in (False, True):
            assert kmer_counts_dict(s, k, canonical=canonical) == dict(
                sorted(brute_force_kmers(s, k, canonical).items()))
    assert [kmer_index(kmer_string(i, 5)) for i in (0, 1, 777, 1023)] == [0, 1, 777, 1023]
    with pytest.raises(GenolmError, match="kmer_counts_dict"):
        kmer_counts("ACGT", 13)
    with pytest.raises(GenolmError, match="offset 2"):
        kmer_counts("AC*T", 2)


# ----------------------------------------------------------------------------- layering


def test_bio_imports_only_errors_and_io():
    for path in (REPO / "genolm" / "bio").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("Bio"), (path.name, name)  # Biopython is test-only
                if name.startswith("genolm"):
                    assert name.split(".")[1] in ("errors", "io", "bio"), (path.name, name)


def test_kmer_profiles_match_per_sequence_counts_and_are_strand_blind():
    import numpy as np

    from genolm.bio.kmers import canonical_kmers, clr, kmer_counts, kmer_profiles

    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGTN"), int(n), p=[0.24, 0.24, 0.24, 0.24, 0.04]))
            for n in rng.integers(1, 300, 40)] + ["", "NNNN", "acgtACGT"]
    prof = kmer_profiles(seqs, 4)
    cols = canonical_kmers(4)
    assert prof.shape == (len(seqs), 136)
    for s, row in zip(seqs, prof):  # reference: one sequence at a time, canonical counts
        counts = kmer_counts(s, 4, canonical=True)[cols]
        np.testing.assert_allclose(row, counts / max(counts.sum(), 1), rtol=1e-6)
    assert prof[-3].sum() == 0 and prof[-2].sum() == 0 and prof[-1].sum() == pytest.approx(1)
    rc = kmer_profiles([reverse_complement(s) for s in seqs], 4)
    np.testing.assert_allclose(rc, prof, rtol=1e-6)
    np.testing.assert_array_equal(kmer_profiles(seqs, 4, chunk=7), prof)  # chunks never share windows
    assert kmer_profiles(seqs, 3, canonical=False).shape == (len(seqs), 64)
    x = clr(prof[:5])
    np.testing.assert_allclose(x.sum(1), 0, atol=1e-4)
