"""genolm simulate: the truth table matches the reads it wrote, abundances become read counts,
single/trimmed reads, determinism, and bad input as one line."""

import gzip

import numpy as np
import pytest

from conftest import DATA, run_cli
from genolm.bio.seq import reverse_complement
from genolm.io.seqio import read_records
from genolm.metagenome.simulate import apportion


@pytest.fixture(scope="module")
def genomes(tmp_path_factory):
    d = tmp_path_factory.mktemp("genomes")
    rng = np.random.default_rng(0)
    rand = "".join(rng.choice(list("ACGT"), 20000))
    plasmid = "".join(rng.choice(list("ACGT"), 5000))
    tiny = "".join(rng.choice(list("ACGT"), 300))  # shorter than a fragment: no reads
    with gzip.open(d / "Rand__one.fasta.gz", "wt") as f:
        f.write(f">chrom\n{rand}\n>plasmid\n{plasmid}\n>tiny\n{tiny}\n")
    return [DATA / "lambda.fasta.gz", d / "Rand__one.fasta.gz"]


def records(path):
    return {r.id: r.seq.upper() for r in read_records(path)}


def table(path):
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def test_truth_matches_the_reads_written(tmp_path, capsys, genomes):
    code, out, err = run_cli(["simulate", *genomes, "--reads", "600", "--model", "perfect", "--abundance", "uniform",
                              "--out", tmp_path / "mock", "--seed", "3"], capsys)
    assert code == 0, err
    refs = {("lambda",) + (k,): v for k, v in records(genomes[0]).items()}
    refs.update({("Rand__one", k): v for k, v in records(genomes[1]).items()})
    truth = table(tmp_path / "mock" / "truth.tsv")
    r1 = list(read_records(tmp_path / "mock" / "reads_R1.fastq.gz"))
    r2 = list(read_records(tmp_path / "mock" / "reads_R2.fastq.gz"))
    assert len(truth) == len(r1) == len(r2) == 300
    for t, a, b in zip(truth, r1, r2):
        assert a.id == t["read"] + "/1" and b.id == t["read"] + "/2"
        ref = refs[t["genome"], t["record"]]
        for mate in (a, b):  # error-free reads are substrings of their record, on one strand
            assert mate.seq in ref or reverse_complement(mate.seq) in ref, (t, mate.seq[:20])
    assert {t["record"] for t in truth if t["genome"] == "Rand__one"} == {"chrom", "plasmid"}  # not "tiny"
    abund = {r["genome"]: r for r in table(tmp_path / "mock" / "abundance.tsv")}
    assert sum(int(r["reads"]) for r in abund.values()) == 600
    assert int(abund["lambda"]["reads"]) == 2 * sum(t["genome"] == "lambda" for t in truth)
    assert "600 reads from 2 genomes" in out


def test_abundances_become_read_counts_and_errors_are_real(tmp_path, capsys, genomes):
    (tmp_path / "ab.tsv").write_text("genome\tabundance\nlambda\t1\nRand__one\t3\n")
    (tmp_path / "taxa.tsv").write_text("lambda\tphage\nRand__one\tbacterium\n")
    code, _, err = run_cli(["simulate", *genomes, "--reads", "2000", "--abundance", tmp_path / "ab.tsv", "--taxa",
                            tmp_path / "taxa.tsv", "--out", tmp_path / "mock", "--model", "novaseq"], capsys)
    assert code == 0, err
    lengths = np.array([48502, 25300])
    expected = 2 * apportion(1000, np.array([0.25, 0.75]) * lengths)
    rows = table(tmp_path / "mock" / "abundance.tsv")
    assert [int(r["reads"]) for r in rows] == expected.tolist()
    assert [r["taxon"] for r in rows] == ["phage", "bacterium"]
    truth = table(tmp_path / "mock" / "truth.tsv")
    assert {t["taxon"] for t in truth if t["genome"] == "lambda"} == {"phage"}
    # The NovaSeq error model puts errors in some reads (not in all).
    ref = records(genomes[0])["gi|9626243|ref|NC_001416.1|"]
    lam = [r.seq for r, t in zip(read_records(tmp_path / "mock" / "reads_R1.fastq.gz"), truth) if t["genome"] == "lambda"]
    exact = sum(s in ref or reverse_complement(s) in ref for s in lam)
    assert 0 < exact < len(lam) and all(len(s) == 151 for s in lam)


def test_single_trimmed_and_deterministic(tmp_path, capsys, genomes):
    args = ["simulate", *genomes, "--reads", "300", "--single", "--read-length", "100", "--model", "basic"]
    assert run_cli(args + ["--out", tmp_path / "a"], capsys)[0] == 0
    assert run_cli(args + ["--out", tmp_path / "b"], capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["abundance.tsv", "genolm.json", "manifest.json",
                                                                   "reads.fastq.gz", "truth.tsv"]
    reads = list(read_records(tmp_path / "a" / "reads.fastq.gz"))
    assert len(reads) == 300 and {len(r.seq) for r in reads} == {100} and {len(r.qual) for r in reads} == {100}
    assert reads == list(read_records(tmp_path / "b" / "reads.fastq.gz"))
    assert (tmp_path / "a" / "truth.tsv").read_text() == (tmp_path / "b" / "truth.tsv").read_text()


@pytest.mark.parametrize("extra,message", [
    (["--abundance", "{ab}"], "genomes missing from the abundance table"),
    (["--abundance", "zipf"], "no such abundance table"),
    (["--reads", "0"], "--reads must be at least 1"),
])
def test_bad_input_is_one_line(tmp_path, capsys, genomes, extra, message):
    (tmp_path / "ab.tsv").write_text("lambda\t1\n")
    extra = [e.format(ab=tmp_path / "ab.tsv") for e in extra]
    code, _, err = run_cli(["simulate", *genomes, "--out", tmp_path / "o", *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_two_files_with_one_name(tmp_path, capsys, genomes):
    (tmp_path / "x").mkdir()
    copy = tmp_path / "x" / "lambda.fa"
    copy.write_text(">a\n" + "ACGT" * 500 + "\n")
    code, _, err = run_cli(["simulate", genomes[0], copy, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "two genome files have the same name" in err


def test_a_progress_bar_counts_every_pair_on_a_terminal(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run_cli(["simulate", DATA / "lambda.fasta.gz", "--reads", "400", "--model", "perfect",
                            "--out", tmp_path / "s"], capsys)
    assert code == 0, err
    assert "simulate: 100%" in err and "200/200" in err
    code, _, err = run_cli(["simulate", DATA / "lambda.fasta.gz", "--reads", "400", "--model", "perfect",
                            "--out", tmp_path / "q", "--no-progress"], capsys)
    assert code == 0 and "%|" not in err
