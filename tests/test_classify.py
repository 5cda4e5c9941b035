"""genolm classify: exact k-mer lookup (the index against a brute-force reference), strain-level
ties, nearest-reference embeddings, scores against the truth (with the k-mer baseline in the same
run), the unassigned answer, bad input."""

import gzip
import json

import numpy as np
import pytest

from conftest import DATA, run_cli
from genolm.bio.kmer_index import KmerIndex
from genolm.bio.seq import reverse_complement
from genolm.metagenome.metrics import classification_scores


def random_seq(rng, n):
    return "".join(rng.choice(list("ACGT"), n))


def two_strains(tmp_path, seed, names):
    """Two 40 kb 'strains' one substitution in 400 bases apart, as FASTA files named ``names``."""
    rng = np.random.default_rng(seed)
    a = random_seq(rng, 40000)
    b = "".join(("G" if c != "G" else "T") if i % 400 == 200 else c for i, c in enumerate(a))
    for name, s in zip(names, (a, b)):
        with gzip.open(tmp_path / f"{name}.fasta.gz", "wt") as f:
            f.write(f">chrom\n{s}\n")
    return [tmp_path / f"{name}.fasta.gz" for name in names]


def canonical_kmers(s: str, k: int) -> set:
    """Every canonical k-mer of ``s`` (the smaller of it and its reverse complement), as strings."""
    return {min(s[i: i + k], reverse_complement(s[i: i + k])) for i in range(len(s) - k + 1)}


def brute_force(refs, read, k, held_by=None):
    """References holding the most of the read's canonical k-mers (sets of strings, both strands).
    ``held_by``: each reference's k-mer set, computed once for many reads."""
    held_by = held_by or [canonical_kmers("N".join(r), k) for r in refs]
    mine = [min(read[i: i + k], reverse_complement(read[i: i + k])) for i in range(len(read) - k + 1)]
    held = [sum(w in kmers for w in mine) for kmers in held_by]
    top = max(held)
    return [i for i, h in enumerate(held) if h == top] if top else [], top


def test_kmer_index_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    base = random_seq(rng, 3000)
    # Two "strains" of one species (a few SNPs apart) and an unrelated genome of two records.
    strain_b = list(base)
    for p in rng.choice(3000, 30, replace=False):
        strain_b[p] = "A" if base[p] != "A" else "C"
    refs = [[base], ["".join(strain_b)], [random_seq(rng, 1500), random_seq(rng, 1500)]]
    idx = KmerIndex.build(refs, taxa=[0, 0, 1], k=9)
    reads = []
    for _ in range(60):
        r = int(rng.integers(0, 3))
        rec = refs[r][int(rng.integers(0, len(refs[r])))]
        lo = int(rng.integers(0, len(rec) - 80))
        s = rec[lo: lo + 80]
        reads.append(reverse_complement(s) if rng.random() < 0.5 else s)
    reads.append(random_seq(rng, 80))  # from nowhere
    calls = idx.classify(reads, chunk=7)  # chunks smaller than the input
    held_by = [canonical_kmers("N".join(r), 9) for r in refs]
    for i, read in enumerate(reads):
        best, top = brute_force(refs, read, 9, held_by)
        assert calls.votes[i] == top or calls.genome[i] < 0
        if len(best) == 1:
            assert calls.genome[i] == best[0] and calls.taxon[i] == [0, 0, 1][best[0]]
        else:
            assert calls.genome[i] == -1
            assert sorted(calls.tied_ref[calls.tied_read == i].tolist()) == best  # the tied set, for --ties em
            if best == [0, 1]:  # tied between the two strains: still the species
                assert calls.taxon[i] == 0 and calls.votes[i] == top
    assert (calls.genome == -1).any() and (calls.genome >= 0).any()
    assert calls.kmers[-1] == 72 and calls.genome[-1] == -1 and 0 <= calls.score.max() <= 1
    idx.MAX_PAIRS = 100  # too many pairs for one vote: parts are halved down to single reads
    halved = idx.classify(reads)
    for name in ("genome", "taxon", "votes", "kmers", "genome_votes"):
        np.testing.assert_array_equal(getattr(halved, name), getattr(calls, name))
    pairs = lambda c: sorted(zip(c.tied_read.tolist(), c.tied_ref.tolist()))  # noqa: E731
    assert pairs(halved) == pairs(calls) and len(pairs(calls)) > 0


def test_classification_scores_by_hand():
    s = classification_scores(["a", "a", "a", "b", "unassigned"], ["a", "a", "b", "unassigned", "unassigned"])
    assert s["accuracy"] == pytest.approx(3 / 5) and s["assigned"] == pytest.approx(3 / 5)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["labels"]["a"] == {"reads": 3, "predicted": 2, "precision": 1.0, "recall": pytest.approx(2 / 3),
                                "f1": pytest.approx(0.8)}
    assert s["labels"]["b"]["precision"] == 0.0 and s["labels"]["b"]["recall"] == 0.0


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    """Lambda, an AT-rich genome and a 'strain' of it with a SNP every 50 bases; perfect single reads."""
    from genolm.cli import main

    d = tmp_path_factory.mktemp("cls")
    rng = np.random.default_rng(1)
    at = "".join(rng.choice(list("ACGT"), 30000, p=[0.42, 0.08, 0.08, 0.42]))
    strain = "".join(("G" if c != "G" else "T") if i % 50 == 25 else c for i, c in enumerate(at))
    for name, s in (("atrich_1", at), ("atrich_2", strain)):
        with gzip.open(d / f"{name}.fasta.gz", "wt") as f:
            f.write(f">chrom\n{s}\n")
    refs = [DATA / "lambda.fasta.gz", d / "atrich_1.fasta.gz", d / "atrich_2.fasta.gz"]
    (d / "taxa.tsv").write_text("lambda\tphage\natrich_1\tatrich\natrich_2\tatrich\n")
    assert main(["simulate", *map(str, refs), "--reads", "600", "--single", "--model", "perfect",
                 "--abundance", "uniform", "--out", str(d / "sim"), "--taxa", str(d / "taxa.tsv")]) == 0
    return d, refs


def test_kmer_classify_against_the_truth(tmp_path, capsys, mock):
    d, refs = mock
    out = tmp_path / "calls.tsv"
    code, stdout, err = run_cli(["classify", d / "sim" / "reads.fastq.gz", "--references", *refs,
                                 "--taxa", d / "taxa.tsv", "--truth", d / "sim" / "truth.tsv", "--out", out], capsys)
    assert code == 0, err
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["id", "length", "genome", "taxon", "score"] and len(rows) == 601
    m = json.loads((tmp_path / "calls.metrics.json").read_text())["metrics"]
    assert set(m) == {"kmer"}
    # Perfect reads: species always right; a SNP every 50 bases tells the strains apart.
    assert m["kmer"]["taxon"]["accuracy"] == 1.0
    assert m["kmer"]["genome"]["accuracy"] > 0.95 and m["kmer"]["genome"]["precision"] == 1.0
    assert "kmer" in stdout and "taxon" in stdout
    # A genome missing from the references: its reads should be unassigned, and are.
    code, _, err = run_cli(["classify", d / "sim" / "reads.fastq.gz", "--references", refs[0], "--truth",
                            d / "sim" / "truth.tsv", "--out", tmp_path / "one.tsv"], capsys)
    assert code == 0, err
    g = json.loads((tmp_path / "one.metrics.json").read_text())["metrics"]["kmer"]["genome"]
    assert g["accuracy"] > 0.95 and g["labels"]["unassigned"]["recall"] > 0.95


def test_embedding_classify_with_the_kmer_baseline(tmp_path, capsys, mock, masked_run):
    d, refs = mock
    run = masked_run
    out = tmp_path / "e.tsv"
    code, stdout, err = run_cli(["classify", d / "sim" / "reads.fastq.gz", "--references", *refs, "--taxa",
                                 d / "taxa.tsv", "--model", run, "--ref-fragments", "100", "--truth",
                                 d / "sim" / "truth.tsv", "--out", out, "--device", "cpu"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "e.metrics.json").read_text())["metrics"]
    assert set(m) == {"embedding", "kmer"} and 0 <= m["embedding"]["genome"]["accuracy"] <= 1
    assert set(m["embedding"]) == set(m["kmer"]) == {"genome", "taxon"}
    assert m["kmer"]["taxon"]["accuracy"] == 1.0  # the baseline in the same run scores as on its own
    calls = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert len(calls) == 600 and all(c[2] in ("lambda", "atrich_1", "atrich_2", "unassigned") for c in calls)
    # Threshold 1: only unanimous neighbours assign, so never more reads than at the default 0.5.
    code, _, err = run_cli(["classify", d / "sim" / "reads.fastq.gz", "--references", *refs, "--model", run,
                            "--ref-fragments", "100", "--threshold", "1", "--out", tmp_path / "t.tsv",
                            "--device", "cpu"], capsys)
    assert code == 0, err
    strict = [line.split("\t")[2] for line in (tmp_path / "t.tsv").read_text().splitlines()[1:]]
    assert sum(c != "unassigned" for c in strict) <= sum(c[2] != "unassigned" for c in calls)


@pytest.mark.parametrize("extra,message", [
    (["--method", "embedding"], "--method embedding needs --model"),
    (["--threshold", "2"], "--threshold out of range (expected 0 to 1"),
    (["--truth", "{bad}"], "no read id is in the truth table"),
    (["--references", "{missing}"], "no such reference file"),
])
def test_bad_input_is_one_line(tmp_path, capsys, mock, extra, message):
    d, refs = mock
    (tmp_path / "bad.tsv").write_text("read\tgenome\nX1\tg\n")
    extra = [e.format(bad=tmp_path / "bad.tsv", missing=tmp_path / "nope.fa") for e in extra]
    if "--references" not in extra:
        extra = ["--references", *refs, *extra]
    code, _, err = run_cli(["classify", d / "sim" / "reads.fastq.gz", "--out", tmp_path / "o.tsv", *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.tsv").exists()


def test_winner_ties_and_the_group_of_the_tied():
    from genolm.bio.kmer_index import _winner

    # read 0: labels 0 and 1 tie (3 votes each, both group 0), label 2 (group 1) trails;
    # read 1: label 2 wins alone; read 2: labels 0 and 2 tie across groups; read 3: no votes.
    read = np.array([0] * 7 + [1] * 2 + [2] * 2)
    label = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 2])
    best, votes, tied = _winner(read, label, 4, 3, np.array([0, 0, 1]))
    assert best.tolist() == [-1, 2, -1, -1] and votes.tolist() == [3, 2, 1, 0]
    assert tied.tolist() == [0, 1, -1, -1]


def test_per_record_references_and_a_taxon_truth(tmp_path, capsys):
    """A 16S-style database: one reference per record, genera by --taxa, queries scored by taxon."""
    rng = np.random.default_rng(5)

    def mutant(s, n):
        s = list(s)
        for p in rng.choice(len(s), n, replace=False):
            s[p] = "ACGT"[("ACGT".index(s[p]) + 1) % 4]
        return "".join(s)

    genera = {g: random_seq(rng, 600) for g in ("Alpha", "Beta", "Gamma")}
    refs, taxa, queries, truth = [], [], [], []
    for g, base in genera.items():
        for j in range(3):
            refs.append((f"{g}_{j}", mutant(base, 12)))
            taxa.append(f"{g}_{j}\t{g}\n")
        for j in range(4):
            queries.append((f"q_{g}_{j}", mutant(base, 12)))
            truth.append(f"q_{g}_{j}\t{g}\n")
    queries.append(("q_new", random_seq(rng, 600)))  # a genus that is not in the database
    truth.append("q_new\tDelta\n")
    (tmp_path / "refs.fa").write_text("".join(f">{i}\n{s}\n" for i, s in refs))
    (tmp_path / "q.fa").write_text("".join(f">{i}\n{s}\n" for i, s in queries))
    (tmp_path / "taxa.tsv").write_text("".join(taxa))
    (tmp_path / "truth.tsv").write_text("read\ttaxon\n" + "".join(truth))
    code, _, err = run_cli(["classify", tmp_path / "q.fa", "--references", tmp_path / "refs.fa", "--per-record",
                            "--taxa", tmp_path / "taxa.tsv", "--truth", tmp_path / "truth.tsv",
                            "--out", tmp_path / "c.tsv"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "c.metrics.json").read_text())["metrics"]["kmer"]
    assert set(m) == {"taxon"} and m["taxon"]["accuracy"] == 1.0  # the new genus is (rightly) unassigned
    rows = {r.split("\t")[0]: r.split("\t")[3] for r in (tmp_path / "c.tsv").read_text().splitlines()[1:]}
    assert rows["q_new"] == "unassigned" and rows["q_Beta_2"] == "Beta"
    # Without --per-record the whole file is one genome: two references with one name is an error.
    code, _, err = run_cli(["classify", tmp_path / "q.fa", "--references", tmp_path / "refs.fa", tmp_path / "refs.fa",
                            "--out", tmp_path / "d.tsv"], capsys)
    assert code == 2 and "two reference files have the same name" in err


def test_an_empty_input_is_one_line(tmp_path, capsys, mock):
    d, refs = mock
    (tmp_path / "empty.fa").write_text("")
    code, _, err = run_cli(["classify", tmp_path / "empty.fa", "--references", *refs, "--out", tmp_path / "o.tsv"],
                           capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "empty file" in err, err
    assert not (tmp_path / "o.tsv").exists()


def test_mates_are_classified_together(tmp_path, capsys):
    """Strains one SNP in 400 bases apart: a single read often holds no difference, a pair more often."""
    from genolm.cli import main

    refs = two_strains(tmp_path, 2, ("strain_a", "strain_b"))
    assert main(["simulate", *map(str, refs), "--reads", "800", "--model", "perfect", "--abundance", "uniform",
                 "--out", str(tmp_path / "sim")]) == 0
    mates = sorted((tmp_path / "sim").glob("reads_R*.fastq.gz"))
    assert len(mates) == 2
    acc = {}
    for extra in ([], ["--no-pairs"]):
        out = tmp_path / f"c{len(extra)}.tsv"
        code, _, err = run_cli(["classify", *mates, "--references", *refs, "--truth", tmp_path / "sim" / "truth.tsv",
                                "--out", out, *extra], capsys)
        assert code == 0, err
        acc[bool(extra)] = json.loads(out.with_name(out.stem + ".metrics.json").read_text())["metrics"]["kmer"]["genome"]
        calls = {r.split("\t")[0]: r.split("\t")[2] for r in out.read_text().splitlines()[1:]}
        if not extra:  # both mates of a pair get the pair's answer
            assert all(calls[f"{i[:-2]}/1"] == calls[f"{i[:-2]}/2"] for i in calls)
    assert acc[False]["accuracy"] > acc[True]["accuracy"] and acc[False]["precision"] == 1.0


def test_em_abundance_is_the_maximum_likelihood_split():
    """EM's shares are a fixed point and no other point of the simplex explains the reads better:
    log-likelihood = sum over reads of log(sum of the shares of the references it fits)."""
    from genolm.bio.kmer_index import em_abundance

    rng = np.random.default_rng(3)
    n_refs, n_reads = 4, 400
    genome = np.where(rng.random(n_reads) < 0.3, rng.integers(0, n_refs, n_reads), -1)
    tied_read, tied_ref = [], []
    for r in np.flatnonzero(genome < 0):
        for g in rng.choice(n_refs, int(rng.integers(2, n_refs + 1)), replace=False):
            tied_read.append(r)
            tied_ref.append(g)
    tied_read, tied_ref = np.array(tied_read), np.array(tied_ref)
    share = em_abundance(genome, tied_read, tied_ref, n_refs)
    assert share.sum() == pytest.approx(1.0) and (share >= 0).all()

    def loglik(p):
        fits = np.zeros(n_reads)
        np.add.at(fits, tied_read, p[tied_ref])
        fits[genome >= 0] = p[genome[genome >= 0]]
        return np.log(fits).sum()

    best = loglik(share)
    for p in rng.dirichlet(np.ones(n_refs), 200):
        assert loglik(p) <= best + 1e-6
    for i in range(n_refs):  # small steps from the optimum along the simplex do not improve it
        for j in range(n_refs):
            if i != j and share[j] > 1e-3:
                q = share.copy()
                q[i] += 1e-3
                q[j] -= 1e-3
                assert loglik(q) <= best + 1e-6
    # Reads left out do not count; no reads at all: no abundance.
    assert em_abundance(genome, tied_read, tied_ref, n_refs, counted=np.zeros(n_reads, bool)).sum() == 0


def test_ties_em_gives_tied_reads_the_abundant_strain(tmp_path, capsys):
    """Two strains 4:1 with a difference every 400 bases: most reads hold both strains' k-mers
    alike.  Without --ties they get no strain; with --ties em the abundance comes out near 4:1
    and the tied reads go to the abundant strain, so accuracy rises well above the default's."""
    from genolm.cli import main

    refs = two_strains(tmp_path, 4, ("major", "minor"))
    (tmp_path / "ab.tsv").write_text("major\t4\nminor\t1\n")
    assert main(["simulate", *map(str, refs), "--reads", "1000", "--single", "--model", "perfect", "--abundance",
                 str(tmp_path / "ab.tsv"), "--out", str(tmp_path / "sim")]) == 0
    truth = tmp_path / "sim" / "truth.tsv"
    acc = {}
    for ties in ("none", "em"):
        out = tmp_path / f"{ties}.tsv"
        code, stdout, err = run_cli(["classify", tmp_path / "sim" / "reads.fastq.gz", "--references", *refs,
                                     "--k", "21", "--ties", ties, "--truth", truth, "--out", out], capsys)
        assert code == 0, err
        report = json.loads(out.with_name(f"{ties}.metrics.json").read_text())
        acc[ties] = report["metrics"]["kmer"]["genome"]
        assert report["summary"]["abundance"]["major"] == pytest.approx(0.8, abs=0.05)
        assert "abundance (k-mer calls, EM): major 8" in stdout or "abundance (k-mer calls, EM): major 7" in stdout
    assert acc["none"]["precision"] == 1.0 and acc["none"]["accuracy"] < 0.6
    assert acc["em"]["assigned"] == 1.0 and acc["em"]["accuracy"] > 0.75
    assert acc["em"]["accuracy"] > acc["none"]["accuracy"] + 0.2
