"""genolm bin: a toy two-genome sample is separated, every read lands in exactly one bin FASTA,
metrics against the truth (with the composition baseline in the same run), bad input."""

import gzip
import json

import numpy as np
import pytest

from conftest import DATA, run_cli
from genolm.io.seqio import read_records


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    """Error-free single reads from phage lambda (GC 50%) and a very AT-rich random genome (GC 16%)."""
    from genolm.cli import main

    d = tmp_path_factory.mktemp("mock")
    rng = np.random.default_rng(1)
    with gzip.open(d / "atrich.fasta.gz", "wt") as f:
        f.write(">chrom\n" + "".join(rng.choice(list("ACGT"), 40000, p=[0.42, 0.08, 0.08, 0.42])) + "\n")
    assert main(["simulate", str(DATA / "lambda.fasta.gz"), str(d / "atrich.fasta.gz"), "--reads", "800",
                 "--single", "--model", "perfect", "--abundance", "uniform", "--out", str(d / "sim")]) == 0
    return d / "sim"


def test_two_genomes_are_separated_and_every_read_binned_once(tmp_path, capsys, mock):
    code, out, err = run_cli(["bin", mock / "reads.fastq.gz", "--truth", mock / "truth.tsv", "--out",
                              tmp_path / "b"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())["tnf"]
    assert m["ari"] > 0.9 and m["n_bins"] == 2 and m["binned"] > 0.9, m
    assert min(g["completeness"] for g in m["genomes"].values()) > 0.9
    rows = [line.split("\t") for line in (tmp_path / "b" / "bins.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "file", "length", "bin"] and len(rows) == 801
    ids = [r[0] for r in rows[1:]]
    fasta_ids = [rec.id for f in sorted((tmp_path / "b" / "bins").iterdir()) for rec in read_records(f)]
    assert sorted(fasta_ids) == sorted(ids)  # a partition: each read in exactly one bin file
    by_bin = {}
    for r in rows[1:]:
        by_bin.setdefault(r[3], set()).add(r[0])
    for f in (tmp_path / "b" / "bins").iterdir():
        assert {rec.id for rec in read_records(f)} == by_bin[f.name.removesuffix(".fasta")]
    assert (tmp_path / "b" / "map.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["sequences"] == 800 and summary["bins"] == 2 and summary["features"] == "tnf"
    assert "ARI" in out and "2 bins" in out
    # Clustering a sample of 300 and giving the other 500 reads their neighbours' bins: the same split.
    code, _, err = run_cli(["bin", mock / "reads.fastq.gz", "--truth", mock / "truth.tsv", "--sample", "300",
                            "--out", tmp_path / "s"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["tnf"]["ari"] > 0.9
    # The same command twice: the same bins (seeded sample and UMAP).
    code, _, err = run_cli(["bin", mock / "reads.fastq.gz", "--out", tmp_path / "again"], capsys)
    assert code == 0, err
    assert (tmp_path / "again" / "bins.tsv").read_text() == (tmp_path / "b" / "bins.tsv").read_text()


def test_embeddings_with_the_composition_baseline(tmp_path, capsys, mock, masked_run):
    run = masked_run
    code, out, err = run_cli(["bin", mock / "reads.fastq.gz", "--model", run, "--features", "both", "--truth",
                              mock / "truth.tsv", "--out", tmp_path / "b", "--device", "cpu"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert set(m) == {"both", "tnf"} and m["both"]["ari"] is not None
    assert "both" in out and "tnf" in out


def test_embedding_in_parts_gives_the_same_vectors(tmp_path, monkeypatch, masked_run):
    """bin embeds at most EMBED_PART sequences at once (bounded memory on millions of reads); the
    parts must join into exactly the vectors of one pass, in input order."""
    import argparse

    import genolm.metagenome.binning as b

    run = masked_run
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGT"), int(n))) for n in rng.integers(40, 200, 23)]
    args = argparse.Namespace(model=str(run), device="cpu", no_progress=True)
    whole = b.features("embedding", seqs, args)
    monkeypatch.setattr(b, "EMBED_PART", 5)
    np.testing.assert_allclose(b.features("embedding", seqs, args), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("extra,message", [
    (["--features", "embedding"], "--features embedding needs --model"),
    (["--truth", "{bad}"], "no sequence id is in the truth table"),
    (["--min-length", "10000"], "no sequences to bin"),
])
def test_bad_input_is_one_line(tmp_path, capsys, mock, extra, message):
    (tmp_path / "bad.tsv").write_text("read\tgenome\nX1\tg\n")
    extra = [e.format(bad=tmp_path / "bad.tsv") for e in extra]
    code, _, err = run_cli(["bin", mock / "reads.fastq.gz", "--out", tmp_path / "o", *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_kmer_coverage_matches_a_brute_force_count():
    from genolm.bio.kmers import kmer_coverage
    from genolm.bio.seq import reverse_complement

    rng = np.random.default_rng(6)
    genome = "".join(rng.choice(list("ACGT"), 600))
    reads = []
    for _ in range(120):
        lo = int(rng.integers(0, 560))
        r = genome[lo: lo + int(rng.integers(25, 40))]
        reads.append(reverse_complement(r) if rng.random() < 0.5 else r)
    reads += ["ACGTN" * 3, "ACG"]  # no whole 9-mer: 0
    k = 9
    canon = lambda w: min(w, reverse_complement(w))  # noqa: E731
    counts = {}
    for r in reads:
        for i in range(len(r) - k + 1):
            if "N" not in r[i: i + k]:
                counts[canon(r[i: i + k])] = counts.get(canon(r[i: i + k]), 0) + 1
    want = [float(np.median([counts[canon(r[i: i + k])] for i in range(len(r) - k + 1) if "N" not in r[i: i + k]]))
            if len(r) >= k and any("N" not in r[i: i + k] for i in range(len(r) - k + 1)) else 0.0 for r in reads]
    np.testing.assert_array_equal(kmer_coverage(reads, k=k, chunk=17), want)


@pytest.fixture(scope="module")
def deep_and_shallow(tmp_path_factory):
    """Two random genomes of the same composition, one at ~40x and one at ~5x."""
    from genolm.cli import main

    d = tmp_path_factory.mktemp("depth")
    rng = np.random.default_rng(7)
    for name in ("deep", "shallow"):
        with gzip.open(d / f"{name}.fasta.gz", "wt") as f:
            f.write(">chrom\n" + "".join(rng.choice(list("ACGT"), 5000)) + "\n")
    (d / "ab.tsv").write_text("deep\t8\nshallow\t1\n")
    assert main(["simulate", str(d / "deep.fasta.gz"), str(d / "shallow.fasta.gz"), "--reads", "1500", "--single",
                 "--model", "perfect", "--abundance", str(d / "ab.tsv"), "--out", str(d / "sim")]) == 0
    return d / "sim"


def test_kmer_abundance_is_the_depth_of_the_reads_genome(tmp_path, capsys, deep_and_shallow):
    from genolm.metagenome.binning import abundance

    sim = deep_and_shallow
    recs = list(read_records(sim / "reads.fastq.gz"))
    truth = dict(line.split("\t")[:2] for line in (sim / "truth.tsv").read_text().splitlines()[1:])
    deep = np.array([truth[r.id.removesuffix("/1")] == "deep" for r in recs])
    depth = abundance("kmer", [r.id for r in recs], [r.seq for r in recs])[:, 0]
    # ~40x and ~5x read depth: 21-mer depth (150 - 21 + 1) / 150 of that.
    assert 28 < np.median(depth[deep]) < 40 and 2 < np.median(depth[~deep]) < 7
    assert np.mean((depth > 12) == deep) > 0.95
    code, out, err = run_cli(["bin", sim / "reads.fastq.gz", "--abundance", "kmer", "--truth", sim / "truth.tsv",
                              "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    assert set(json.loads((tmp_path / "a" / "metrics.json").read_text())) == {"tnf+abundance", "tnf"}
    assert "tnf+abundance" in out


def test_an_abundance_table_separates_what_composition_cannot(tmp_path, capsys):
    """Random reads of one composition, half at depth 40 and half at depth 5 (per a table): TNF sees
    one group, the depth column two."""
    rng = np.random.default_rng(8)
    reads = ["".join(rng.choice(list("ACGT"), 150)) for _ in range(600)]
    (tmp_path / "r.fasta").write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(reads)))
    (tmp_path / "truth.tsv").write_text("read\tgenome\n" + "".join(f"r{i}\t{'ab'[i % 2]}\n" for i in range(600)))
    (tmp_path / "depth.tsv").write_text("contig\tdepth\n" + "".join(
        f"r{i}\t{(40 if i % 2 else 5) * rng.uniform(0.8, 1.25):.2f}\n" for i in range(600)))
    code, _, err = run_cli(["bin", tmp_path / "r.fasta", "--abundance", tmp_path / "depth.tsv", "--truth",
                            tmp_path / "truth.tsv", "--out", tmp_path / "t"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert m["tnf+abundance"]["ari"] > 0.9 and m["tnf"]["ari"] < 0.1, (m["tnf+abundance"]["ari"], m["tnf"]["ari"])


@pytest.mark.parametrize("table,message", [
    ("id\tdepth\nnobody\t3\n", "sequences have no abundance"),
    ("id\tdepth\n{first}\tlots\n", "bad abundance row"),
    ("id\n", "abundance table needs an id column and at least one depth column"),
    (None, "no such abundance table"),
])
def test_bad_abundance_tables_are_one_line(tmp_path, capsys, mock, table, message):
    first = next(iter(read_records(mock / "reads.fastq.gz"))).id
    path = tmp_path / "ab.tsv"
    if table is not None:
        path.write_text(table.format(first=first))
    code, _, err = run_cli(["bin", mock / "reads.fastq.gz", "--abundance", path, "--out", tmp_path / "o"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
