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
    hits, seen = [], []
    table = judge(isolates[:3], ref, training=isolates[:1], workers=2, hits_out=hits, progress=seen.append)
    assert table["passes"][1:].all() and not table["passes"][0]  # the first is in "training"
    serial_hits = []
    serial = judge(isolates[:3], ref, training=isolates[:1], workers=1, hits_out=serial_hits)
    assert hits == serial_hits and sum(seen) == 3  # two processes judge as one does, in order
    assert all(np.array_equal(table[k], serial[k], equal_nan=table[k].dtype.kind == "f") for k in serial)
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


# ---- genolm design -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def causal_run(tmp_path_factory):
    from conftest import make_run

    return make_run(tmp_path_factory.mktemp("design_run"), "transformer", causal=True)


def design(out, run, *extra, capsys=None):
    from conftest import run_cli

    return run_cli(["design", "--model", run, "--out", out, "--device", "cpu", "--no-progress", *map(str, extra)],
                   capsys)


def test_the_same_seed_designs_the_same_genomes(tmp_path, capsys, causal_run):
    common = ["--num", "3", "--length", "100", "--min-length", "50", "--batch-size", "3", "--seed", "7"]
    code, out, err = design(tmp_path / "a", causal_run, *common, capsys=capsys)
    assert code == 0, err
    assert "3 genomes (median " in out and "(not checked: no --reference)" in out
    lengths = [len(x) for x in (tmp_path / "a" / "generated.fasta").read_text().split(">")[1:]]  # with a header line
    assert min(lengths) > 50  # no genome ends before --min-length, which it would fail
    code, _, err = design(tmp_path / "b", causal_run, *common, capsys=capsys)
    assert code == 0, err
    for name in ("generated.fasta", "designs.fasta", "designs.tsv", "funnel.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    code, _, err = design(tmp_path / "c", causal_run, *common[:-1], "8", capsys=capsys)
    assert (tmp_path / "a" / "generated.fasta").read_bytes() != (tmp_path / "c" / "generated.fasta").read_bytes()


def test_design_keeps_the_best_passing_genome_of_each_cluster(tmp_path, capsys, causal_run, ref, monkeypatch):
    """The generations replaced by known genomes: phiX174 (not novel), three isolates, a copy of
    one of them with one change (same cluster) and two damaged ones (fail their stage)."""
    import json

    import pyarrow.parquet as pq

    import genolm.generation.generate as generate
    from genolm.io.seqio import read_records, write_fasta

    ids, isolates = read_genomes(str(MICRO / "rokyta2006_phix174like_genomes.fasta.gz"))
    twin = isolates[1][:500] + ("A" if isolates[1][500] != "A" else "C") + isolates[1][501:]
    bad = damaged(isolates[2])
    genomes = [ref.genome, isolates[0], isolates[1], twin, isolates[2], bad["genes_present"], bad["homopolymer"]]

    def fake(args):
        write_fasta([(f"gen_{i + 1}", g) for i, g in enumerate(genomes)], args.out)
        return {"sequences": len(genomes), "bases": 0, "seconds": 0.0, "device": "cpu"}

    monkeypatch.setattr(generate, "run", fake)
    out = tmp_path / "d"
    code, stdout, err = design(out, causal_run, "--num", "7", "--reference", PHIX, "--annotation", GFF, "--spike",
                               SPIKE, "--keep", "10", capsys=capsys)
    assert code == 0, err
    t = pq.read_table(out / "designs.parquet").to_pydict()
    assert t["passes"] == [False, True, True, True, True, False, False]
    assert t["pass_novel"][0] is False and t["pass_genes_present"][5] is False and t["pass_homopolymer"][6] is False
    assert t["cluster"][2] == t["cluster"][3] and len({t["cluster"][i] for i in (1, 2, 4)}) == 3
    kept = [i for i, k in enumerate(t["kept"]) if k]
    assert len(kept) == 3 and 1 in kept and 4 in kept and (2 in kept) != (3 in kept)  # one of the twins
    ranks = sorted(t["rank"][i] for i in kept)
    designs = list(read_records(out / "designs.fasta"))
    assert [r.id for r in designs] == ["design_1", "design_2", "design_3"]
    bits = [float(r.description.split("bits_per_base=")[1].split()[0]) for r in designs]
    assert bits == sorted(bits) and ranks[0] == 1  # best first
    funnel_rows = [r.split("\t") for r in (out / "funnel.tsv").read_text().splitlines()[1:]]
    assert [r[0] for r in funnel_rows] == list(STAGES) and funnel_rows[-1][3] == "4"
    s = json.loads((out / "summary.json").read_text())
    assert s["passed"] == 4 and s["clusters"] == 3 and s["kept"] == 3 and s["spike"] == "major spike protein"
    genes = (out / "genes.tsv").read_text().splitlines()
    assert len(genes) == 1 + 4 * 11  # every reference gene in the reference and in every kept design
    assert genes[1].startswith("NC_001422.1\t") and genes[1].split("\t")[7] != "0"
    # the report draws it: the funnel, the rank, the gene map
    from genolm.report import write_report

    secs = write_report([str(out)], tmp_path / "r.html")
    assert [x.kind for x in secs] == ["design"] and "4 pass every stage" in secs[0].summary
    assert f"a median of {s['median_length']:,.0f} bases, at most {s['length']:,})" in secs[0].summary
    assert len([f for f in secs[0].figures if f[0] == "plotly"]) == 3
    assert "The stage that stops most" in secs[0].summary
    assert "4 passed every stage (3 clusters); kept 3" in stdout and s["ranked_by"] == "bits_per_base"
    # ranked by a fitted viability score instead (here: 16-mer identity to the training genomes)
    from genolm.generation.viability_score import ViabilityScore

    (tmp_path / "score.json").write_text(ViabilityScore(["kmer_identity"], [0.5], [0.1], [5.0], 0.0, markov_order=3).to_json())
    code, _, err = design(tmp_path / "e", causal_run, "--num", "7", "--reference", PHIX, "--annotation", GFF, "--train",
                          MICRO / "phage_sft_genomes_phix174_variants.fna.gz", "--viability-score",
                          tmp_path / "score.json", capsys=capsys)
    assert code == 0, err
    t = pq.read_table(tmp_path / "e" / "designs.parquet").to_pydict()
    kept = sorted((r, v) for r, v, k in zip(t["rank"], t["viability_score"], t["kept"]) if k)
    assert [v for _, v in kept] == sorted((v for _, v in kept), reverse=True)
    assert json.loads((tmp_path / "e" / "summary.json").read_text())["ranked_by"] == "viability_score"


@pytest.mark.parametrize("extra, message", [
    (["--reference", PHIX], "--reference and --annotation go together"),
    (["--length", "100", "--keep", "0"], "--keep must be at least 1"),
    ([], "give --length"),
    (["--length", "100", "--train", "nope.fa"], "no such file"),
    (["--length", "100", "--min-gc", "0.9"], "GC limits"),
])
def test_bad_design_input_is_one_line(tmp_path, capsys, causal_run, extra, message):
    code, out, err = design(tmp_path / "o", causal_run, *extra, capsys=capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# ---- the viability score -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validation(ref):
    from genolm.generation.viability_score import Context, components, validation_set
    from genolm.io.seqio import read_records
    from genolm.model.markov import MarkovModel

    _, isolates = read_genomes(str(MICRO / "rokyta2006_phix174like_genomes.fasta.gz"))
    _, natural = read_genomes(str(MICRO / "phage_sft_genomes_phix174_variants.fna.gz"))
    natural = natural[:20]
    lam = next(iter(read_records(DATA / "lambda.fasta.gz", case="upper"))).seq
    v = validation_set(isolates[:4], ref, np.random.default_rng(0), others=[lam], copies=1)
    ctx = Context(ref, natural, MarkovModel(max_order=5).fit(natural))
    return v, components(v["seqs"], ctx), ctx


def test_the_validation_set_damages_each_genome_in_every_way(validation, ref):
    from genolm.generation.viability_score import DAMAGE

    v, comp, _ = validation
    assert v["kind"][:1 + len(DAMAGE)] == ["natural", *DAMAGE] and sum(v["viable"]) == 4
    table = judge(v["seqs"][:1 + len(DAMAGE)], ref)
    fails = dict(zip(v["kind"], zip(*(table[f"pass_{s}"] for s in ("genes_present", "genes_intact", "gene_order")))))
    assert fails["natural"] == (True, True, True)
    assert fails["frameshift"][1] is np.False_ and fails["stop"][1] is np.False_  # a gene cut short
    assert fails["deletion"][0] is np.False_ and fails["order"][2] is np.False_
    n = len(v["seqs"][0])
    sub = v["seqs"][DAMAGE.index("substitutions_3%") + 1]
    diff = sum(a != b for a, b in zip(in_register(v["seqs"][0], ref.genome)[0], sub))
    assert len(sub) == n and abs(diff - 0.03 * n) < 2
    dup, orig = v["seqs"][DAMAGE.index("duplication") + 1], in_register(v["seqs"][0], ref.genome)[0]
    size = len(dup) - n  # a stretch of 60-400 bases written twice in a row
    at = next(i for i in range(n) if dup[i] != orig[i])
    assert 60 <= size <= 400 and any(dup[:j] + dup[j + size:] == orig and dup[j: j + size] == dup[j - size: j]
                                     for j in range(max(size, at - size), at + 1))


def test_the_score_ranks_damage_below_the_genome_it_came_from(validation):
    from genolm.generation.viability_score import ViabilityScore

    v, comp, _ = validation
    viable = np.array(v["viable"])
    model = ViabilityScore.fit(comp, viable, v["kind"], np.array(v["group"]), folds=2)
    val = model.validation
    best = max(x["all"] for x in val["components"].values())
    assert val["combined"]["all"] >= best or val["chosen"] != "combined"  # never worse than its best part
    s = model.score(comp)
    assert ((s >= model.threshold) == viable).mean() > 0.85
    groups = np.array(v["group"])
    for g in set(groups.tolist()):  # each genome above every gene-level damage of itself
        own = s[(groups == g) & viable][0]
        damaged = s[(groups == g) & np.isin(v["kind"], ["frameshift", "stop", "deletion", "order"])]
        assert (damaged < own).all()
    again = ViabilityScore.from_json(model.to_json())
    np.testing.assert_allclose(again.score(comp), s)
    with pytest.raises(GenolmError, match="components that were not measured"):
        ViabilityScore(["lm_bits"], [0.0], [1.0], [1.0], 0.0).score(comp)


def test_the_models_components_read_each_gene_in_its_context(validation, causal_run):
    from genolm.generation.viability_score import Context, components
    from genolm.train.checkpoint import load_model

    v, _, ctx = validation
    model, tok, _ = load_model(causal_run, "cpu")
    comp = components(v["seqs"][:3], Context(ctx.reference, ctx.natural, ctx.markov, (model, tok, "cpu")))
    assert set(comp) == {"lm_bits", "lm_gene_bits", "markov_bits", "kmer_identity", "genes"}
    assert np.isfinite(comp["lm_bits"]).all() and (comp["lm_gene_bits"] <= 0).all()
    assert (comp["lm_gene_bits"] < comp["lm_bits"] + 3).all()


def test_viability_score_on_the_command_line(tmp_path, capsys, ref):
    import pyarrow.parquet as pq
    from conftest import run_cli

    from genolm.generation.viability_score import damage
    from genolm.io.seqio import write_fasta

    _, isolates = read_genomes(str(MICRO / "rokyta2006_phix174like_genomes.fasta.gz"))
    _, natural = read_genomes(str(MICRO / "phage_sft_genomes_phix174_variants.fna.gz"))
    rng = np.random.default_rng(1)
    write_fasta([(f"iso{i}", g) for i, g in enumerate(isolates[:5])], tmp_path / "held_out.fa")
    write_fasta([(f"nat{i}", g) for i, g in enumerate(natural[:15])], tmp_path / "train.fa")
    designs = [("good", isolates[6]), ("stop", damage(isolates[6], "stop", ref, rng)),
               ("deleted", damage(isolates[6], "deletion", ref, rng)), ("good2", isolates[7])]
    write_fasta(designs, tmp_path / "designs.fa")
    argv = ["viability", tmp_path / "designs.fa", "--score", "--reference", tmp_path / "held_out.fa", "--train",
            tmp_path / "train.fa", "--genome", PHIX, "--annotation", GFF, "--max-reference", "5", "--folds", "2",
            "--markov-order", "4", "--damage-copies", "1", "--out", tmp_path / "v", "--no-progress"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    from genolm.generation.viability_score import DAMAGE

    assert f"viability score: cross-validated AUROC on 5 natural genomes against {5 * len(DAMAGE)} damaged" in out
    t = pq.read_table(tmp_path / "v" / "sequences.parquet").to_pydict()
    score = {i: s for i, s, n in zip(t["id"], t["viability_score"], t["set"]) if n == "designs"}
    assert min(score["good"], score["good2"]) > max(score["stop"], score["deleted"])
    rows = (tmp_path / "v" / "validation.tsv").read_text().splitlines()
    assert rows[0].startswith("damage\tcombined\t") and len(rows) == 2 + len(DAMAGE)
    assert (tmp_path / "v" / "viability_score.json").is_file()
    code, _, err = run_cli(argv[:3] + ["--reference", tmp_path / "held_out.fa", "--out", tmp_path / "w"], capsys)
    assert code == 2 and "--score needs --genome and --annotation" in err and err.count("\n") == 1
