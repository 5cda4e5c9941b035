"""Whole-genome design's filter funnel on hand-made phiX174 genomes: a copy passes every biology
filter, and each kind of damage fails exactly the filter meant for it; genes are found around the
circle in every frame; a rotation of phiX174 is recognised as phiX174; the annotation's 0-based
starts are noticed; bad annotation files are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DATA
from genolm.bio.circular import align_start, feature_sequence, in_register, rotate
from genolm.bio.genome_match import circular_orfs, identity, protein_hits
from genolm.bio.seq import reverse_complement
from genolm.errors import GenolmError
from genolm.generation.funnel import cluster, funnel, judge, Limits, read_genomes, Reference, STAGES
from genolm.io.gff import read_cds, read_gff

MICRO = DATA / "microviridae"
PHIX, GFF, SPIKE = MICRO / "NC_001422_1.fna.gz", MICRO / "NC_001422.1_pseudocircular.gff", MICRO / "NC_001422.1_Gprotein.fasta.gz"
BIOLOGY = [s for s in STAGES if s != "novel"]
H = (2930, 3917)  # gene H (pilot protein), 0-based half-open
F = (1000, 2284)  # gene F (major head protein)


@pytest.fixture(scope="module")
def ref():
    return Reference.load(str(PHIX), str(GFF), str(SPIKE))


def damaged(s: str) -> dict[str, str]:
    """phiX174 with one kind of damage each, named for the filter it must fail."""
    return {
        "genes_intact": s[: H[0] + 500] + "A" + s[H[0] + 500:],  # a frameshift in gene H
        "genes_intact ": s[: F[0] + 300] + "TAA" + s[F[0] + 303:],  # a premature stop in gene F
        "genes_present": s[: H[0]] + s[H[1]:],  # gene H deleted
        "gene_order": s[: F[0]] + s[H[0]: H[1]] + s[F[1]: H[0]] + s[F[0]: F[1]] + s[H[1]:],  # F and H swapped
        "homopolymer": s[:3930] + "A" * 12 + s[3930:],  # between genes H and A
        "length": s + s[:1200],  # 6.6 kb
        "letters": s[:100] + "N" + s[101:],
    }


def test_the_annotation_is_read_with_its_0_based_starts_noticed(ref, capsys):
    cds = read_cds(GFF)
    assert len(cds) == 11 and max(f.end for f in cds) == 5522  # gene A runs past the 5,386 bp genome
    assert len(ref.proteins) == 11 and len(ref.genome) == 5386
    assert all(p.startswith("M") and "*" not in p for p in ref.proteins.values())  # whole ORFs from the base after
    assert ref.spike == "major spike protein" and len(ref.proteins[ref.spike]) == 175
    assert any("0-based" in n for n in ref.notes)
    a = next(f for f in cds if f.end == 5522)
    gene_a = feature_sequence(ref.genome, a.start + 1, a.end, a.strand)  # across the origin
    assert gene_a.startswith("ATG") and len(gene_a) == 5522 - a.start and gene_a.endswith(("TAA", "TAG", "TGA"))


def test_a_phix174_copy_passes_every_biology_filter_and_damage_fails_exactly_its_own(ref):
    seqs = {"copy": ref.genome, **damaged(ref.genome)}
    table = judge(list(seqs.values()), ref)
    for i, (name, _) in enumerate(seqs.items()):
        failed = [s for s in BIOLOGY if not table[f"pass_{s}"][i]]
        assert failed == ([] if name == "copy" else [name.strip()]), (name, failed)
    assert table["genes_missing"][3] == "pilot protein for DNA ejection"
    assert table["genes_broken"][1] == "pilot protein for DNA ejection"
    assert table["genes_broken"][2] == "major head protein"
    assert table["spike_identity"][0] == 1.0
    # a point change leaves phiX174 phiX174: not novel; a deletion or a rearrangement moves the
    # genome's bases far enough (82%, 76% identical) to count as new
    novel = dict(zip(seqs, table["pass_novel"]))
    assert [k for k, v in novel.items() if v] == ["genes_present", "gene_order", "length"]
    assert table["identity_reference"][0] == 1.0


def test_a_rotation_or_the_other_strand_of_phix174_is_phix174(ref):
    s = ref.genome
    for genome in (rotate(s, 2000), reverse_complement(rotate(s, 777))):
        assert identity(genome, s) == 1.0
        oriented, start = in_register(genome, s)
        assert oriented == s and start.votes > 1000
    table = judge([rotate(s, 2000), reverse_complement(rotate(s, 777))], ref)
    assert all(table[f"pass_{st}"].all() for st in BIOLOGY)
    assert align_start("ACGT" * 5, s).votes == 0  # nothing shared: left as it is


def test_genes_are_found_in_every_frame_around_the_circle(ref):
    hits = protein_hits(ref.proteins, ref.genome)
    assert all(h.score == 1.0 and h.coverage == 1.0 and h.identity == 1.0 for h in hits.values())
    a = hits["DNA replication initiation (NC_001422.1_ORF.23)"]  # gene A crosses the origin
    assert a.position == 3953 and a.strand == 1
    orfs = circular_orfs(ref.genome)
    assert {o.strand for o in orfs} == {1, -1} and {o.frame for o in orfs} == {0, 1, 2}
    assert any(o.end > len(ref.genome) for o in orfs)  # an ORF across the origin is whole
    random = "".join(np.random.default_rng(0).choice(list("ACGT"), 5386))
    chance = protein_hits(ref.proteins, random)
    assert max(h.score for h in chance.values()) < Limits().present_score  # chance hits are not genes


def test_natural_relatives_pass_and_are_novel_to_phix174_but_not_to_themselves(ref):
    ids, isolates = read_genomes(str(MICRO / "rokyta2006_phix174like_genomes.fasta.gz"))
    table = judge(isolates[:3], ref, training=isolates[:1])
    assert table["passes"][1:].all() and not table["passes"][0]  # the first is in "training"
    assert (table["identity_reference"] < 0.989).all() and table["identity_training"][0] == 1.0
    assert table["nearest_training"][0] == "0"
    rows = funnel(table)
    assert [r[0] for r in rows] == list(STAGES) and rows[-1][2] == 2
    assert all(a >= b for (_, _, a), (_, _, b) in zip(rows, rows[1:]))  # a funnel only narrows


def test_clusters_at_99_percent_identity(ref):
    s = ref.genome
    near = s[:100] + ("A" if s[100] != "A" else "C") + s[101:]  # one substitution: the same cluster
    ids, isolates = read_genomes(str(MICRO / "rokyta2006_phix174like_genomes.fasta.gz"))
    c = cluster([s, near, isolates[0], rotate(s, 999)], order=[0, 1, 2, 3])
    assert c.tolist() == [0, 0, 1, 0]
    c = cluster([s, near, isolates[0]], order=[2, 1])
    assert c.tolist() == [-1, 1, 0]


def test_aligned_genome_sets_lose_their_gaps(capsys):
    ids, seqs = read_genomes(str(MICRO / "wichman2005_lt180_genomes.fasta.gz"))
    assert len(seqs) == 39 and not any("." in s or "-" in s for s in seqs)
    assert "115 alignment gaps" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("chr\tx\tCDS\t3\t8\t.\t+\n", "not a GFF3 feature line"),
    ("chr\tx\tCDS\tthree\t8\t.\t+\t0\tID=a\n", "start and end must be whole numbers"),
    ("chr\tx\tCDS\t9\t8\t.\t+\t0\tID=a\n", "must run from start to end"),
    ("chr\tx\tCDS\t3\t8\t.\t?\t0\tID=a\n", "needs a strand"),
    ("chr\tx\tCDS\t3\t8\t.\t+\t0\tID\n", "key=value"),
    ("chr\tx\tgene\t3\t8\t.\t+\t0\tID=a\n", "no CDS feature"),
])
def test_a_bad_annotation_is_one_clear_error(tmp_path, text, message):
    p = tmp_path / "a.gff"
    p.write_text("##gff-version 3\n" + text)
    with pytest.raises(GenolmError, match=message) as err:
        read_cds(p)
    assert err.value.file == str(p)
    if message != "no CDS feature":
        assert err.value.line == 2
    assert read_gff(p, types=("mRNA",)) == [] if message == "no CDS feature" else True


def test_limits_check_themselves():
    with pytest.raises(GenolmError, match="length limits"):
        Limits(min_length=7000)
    with pytest.raises(GenolmError, match="GC limits"):
        Limits(min_gc=0.7)
