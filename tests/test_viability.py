"""genolm viability: statistics against hand-computed values, the exact-match index against a
brute-force scan, the verdicts on real and random DNA, the command end to end, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from genolm.bio.genome_stats import (aa_counts, coding_density, gc_skew, js_divergence, kmer_spectra,
                                     longest_homopolymer, stop_rate)
from genolm.bio.match_index import MatchIndex
from genolm.model.markov import MarkovModel
from genolm.generation.viability import discriminator_auroc, thresholds, verdicts

DATA = Path(__file__).resolve().parent.parent / "data"


def genome(name):
    from genolm.io.seqio import read_records

    return "".join(r.seq for r in read_records(DATA / name, case="upper"))


@pytest.fixture(scope="module")
def pylori():
    return genome("H.Pylori__G27.fasta.gz"), genome("H.Pylori__SJM180.fasta.gz")


def test_statistics_match_hand_counts():
    assert gc_skew("GGGCAT") == pytest.approx(0.5) and gc_skew("ATAT") == 0.0 and gc_skew("ccg") == pytest.approx(-1 / 3)
    assert longest_homopolymer("ACGTTTTTGNNNNNNAAA") == 5 and longest_homopolymer("") == 0
    # ATGTAGCTAA: 8 triplets, forward stops TAG (3) and TAA (7); reverse-strand stops read forward
    # as TTA/CTA/TCA: CTA (5) -> 3 stops over 2 x 8 codons
    assert stop_rate("ATGTAGCTAA") == pytest.approx(3 / 16)
    assert stop_rate("ATGNTAA") == pytest.approx(1 / 4)  # only ATG and TAA are whole triplets
    assert js_divergence([1, 0, 0, 1], [1, 0, 0, 1]) == 0.0
    p, q = np.array([0.5, 0.5, 0]), np.array([0, 0.5, 0.5])  # M = (.25, .5, .25): each KL = 0.5 bit
    assert js_divergence(p, q) == pytest.approx(0.5) and math.isnan(js_divergence([0, 0], [1, 1]))
    assert coding_density(10, [(0, 4), (2, 6), (8, 20)]) == pytest.approx(0.8)
    assert coding_density(10, []) == 0.0
    spec = kmer_spectra(["AACGTT", "GGNCC"], 2)  # canonical 2-mers; both strands counted together
    assert spec.shape == (2, 10) and spec.sum(1).tolist() == [5, 2]
    from genolm.bio.kmers import canonical_kmers, kmer_string

    names = [kmer_string(int(i), 2) for i in canonical_kmers(2)]
    assert spec[0, names.index("AA")] == 2  # AA and TT
    assert spec[1, names.index("CC")] == 2  # GG and CC
    counts = aa_counts(["MKKL", "W*X"])
    assert counts.sum() == 5 and counts["ACDEFGHIKLMNPQRSTVWY".index("K")] == 2


def brute_longest(query, corpus, k):
    from genolm.bio.seq import reverse_complement

    best = 0
    for q in (query, reverse_complement(query)):
        for rec in corpus:
            for i in range(len(q)):
                for j in range(len(rec)):
                    n = 0
                    while i + n < len(q) and j + n < len(rec) and q[i + n] == rec[j + n]:
                        n += 1
                    best = max(best, n)
    return best if best >= k else 0


def test_match_index_finds_the_longest_exact_match_like_a_scan():
    rng = np.random.default_rng(4)
    corpus = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(3)]
    index = MatchIndex.build(corpus, k=8)
    for trial in range(12):
        q = list("".join(rng.choice(list("ACGT"), 120)))
        if trial % 3:  # plant a stretch of the corpus, on either strand
            from genolm.bio.seq import reverse_complement

            src = corpus[trial % 3]
            lo, n = int(rng.integers(0, 200)), int(rng.integers(8, 60))
            piece = src[lo: lo + n] if trial % 2 else reverse_complement(src[lo: lo + n])
            at = int(rng.integers(0, 120 - n))
            q[at: at + n] = piece
        q = "".join(q)
        m = index.longest_match(q)
        assert m.length == brute_longest(q, corpus, 8)
        if m.length:  # the reported places really match
            from genolm.bio.seq import reverse_complement

            strand_seq = q if m.strand == 1 else reverse_complement(q)
            assert strand_seq[m.query_start: m.query_start + m.length] == \
                corpus[m.record][m.record_start: m.record_start + m.length]
    assert index.longest_match("ACGT" * 3).length == 0  # shorter than any k-mer hit
    # one substitution splits a copy into two matches on the same diagonal: the longer one counts
    copy = list(corpus[0][50:150])
    copy[40] = {"A": "C", "C": "G", "G": "T", "T": "A"}[copy[40]]
    assert index.longest_match("".join(copy)).length == brute_longest("".join(copy), corpus, 8) == 59
    # joined, the records would hold AAAACCCC whole: a match never spans two records
    assert MatchIndex.build(["A" * 5, "C" * 5], k=4).longest_match("AAAACCCC").length == 4


def test_markov_samples_follow_the_model():
    seq = genome("H.Pylori__G27.fasta.gz")[:200_000]
    m = MarkovModel(3).fit([seq])
    s = "".join(m.sample(20, 2000, seed=0))
    real, fake = kmer_spectra([seq], 4)[0], kmer_spectra([s], 4)[0]
    assert js_divergence(real, fake) < 0.005
    other = "".join(np.random.default_rng(0).choice(list("ACGT"), 40000))
    assert js_divergence(real, kmer_spectra([other], 4)[0]) > 5 * js_divergence(real, fake)
    assert m.sample(3, 50, seed=1) == m.sample(3, 50, seed=1) != m.sample(3, 50, seed=2)


def test_thresholds_come_from_the_reference_spread():
    ref = {stat: np.arange(101, dtype=float) for stat in
           ["gc", "gc_skew", "homopolymer", "js6", "coding_density", "gene_aa", "stop_rate", "aa_js", "markov_bpb"]}
    t = thresholds(ref, 0.9)
    assert t["gc"]["side"] == "both" and (t["gc"]["low"], t["gc"]["high"]) == pytest.approx((5.0, 95.0))
    assert t["coding_density"]["low"] == pytest.approx(5.0) and t["coding_density"]["high"] is None
    assert t["homopolymer"]["low"] is None and t["homopolymer"]["high"] == pytest.approx(95.0)
    table = {k: np.array([50.0, 3.0, 97.0]) for k in ref} | {"longest_match": np.array([0, 250, 100])}
    v = verdicts(table, t, max_match=200)
    assert v["pass_gc"].tolist() == [True, False, False]
    assert v["pass_coding_density"].tolist() == [True, False, True]  # only too little coding fails
    assert v["pass_homopolymer"].tolist() == [True, True, False]  # only too long fails
    assert v["viable"].tolist() == [True, False, False] and v["pass_novel"].tolist() == [True, False, True]


def test_discriminator_tells_random_from_real_but_not_real_from_real(pylori):
    a, b = pylori
    real_a = [a[i: i + 3000] for i in range(0, 120_000, 3000)]
    real_b = [b[i: i + 3000] for i in range(0, 120_000, 3000)]
    rng = np.random.default_rng(1)
    noise = ["".join(rng.choice(list("ACGT"), 3000)) for _ in range(40)]
    assert discriminator_auroc(real_a, noise, 4, 5, 0)[0] > 0.95
    assert discriminator_auroc(real_a, real_b, 4, 5, 0)[0] < 0.75


def write(path, seqs, prefix="s"):
    path.write_text("".join(f">{prefix}{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def test_viability_command_real_passes_random_fails(tmp_path, capsys, pylori):
    a, b = pylori
    rng = np.random.default_rng(0)
    ref = write(tmp_path / "ref.fa", [a[:250_000]], "g27_")
    real = write(tmp_path / "real.fa", [b[i * 7919: i * 7919 + 5000] for i in range(8)])  # another strain
    noise = write(tmp_path / "noise.fa", ["".join(rng.choice(list("ACGT"), 5000)) for _ in range(8)])
    train = write(tmp_path / "train.fa", [b[:60_000]])  # real.fa's first windows copy it
    out = tmp_path / "viab"
    code, text, _ = run_cli(["viability", real, noise, "--reference", ref, "--train", train, "--out", out,
                             "--max-reference", "40", "--folds", "3", "--markov-order", "4"], capsys)
    assert code == 0 and "reference" in text and "noise" in text
    rows = pq.read_table(out / "sequences.parquet").to_pydict()
    sets = np.array(rows["set"])
    assert (sets == "reference").sum() == 40 and len(set(np.array(rows["length"])[sets != "noise"])) == 1
    dens = np.array(rows["pass_coding_density"])
    # the criterion: real windows of another strain pass (the reference's own lowest 2.5%
    # fail by construction, so one in eight may), random DNA never does
    assert dens[sets == "real"].sum() >= 7 and not dens[sets == "noise"].any()
    assert np.array(rows["viable"])[sets == "noise"].sum() == 0
    match = np.array(rows["longest_match"])
    # windows 0-6 of real.fa lie inside train.fa (b[:60000]); window 7 starts at 55,433
    assert match[sets == "real"].tolist() == [5000] * 7 + [60_000 - 7 * 7919]
    assert (match[sets == "noise"] == 0).all() and not np.array(rows["pass_novel"])[sets == "real"].any()
    summary = json.loads((out / "summary.json").read_text())
    by = {r["set"]: r for r in summary["summary"]}
    assert by["noise"]["discriminator_auroc"] > 0.9 and by["noise"]["js6_ratio"] > 3
    assert by["real"]["js6_ratio"] < by["noise"]["js6_ratio"] and by["reference"]["js6_ratio"] == pytest.approx(1.0)
    assert summary["thresholds"]["coding_density"]["side"] == "lower" and summary["window"] == 5000
    genes = pq.read_table(out / "genes.parquet").to_pydict()
    assert set(genes["set"]) >= {"reference", "real"} and set(genes["strand"]) == {1, -1}
    assert min(genes["start"]) >= 0 and max(genes["end"]) <= 5000
    for png in ("kmer_spectra.png", "gene_maps.png", "distributions.png"):
        assert (out / png).stat().st_size > 5000
    assert (out / "summary.tsv").read_text().splitlines()[0].startswith("set\tn\t")


@pytest.mark.parametrize("case, message", [
    ("missing", "no such sequence file"), ("empty", "empty file"), ("short", "too few reference windows"),
    ("coverage", "--coverage must be between"), ("train", "no such training file"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, case, message):
    seqs = write(tmp_path / "g.fa", ["ACGT" * 300])
    ref = write(tmp_path / "r.fa", ["ACGTTGCA" * 1000])
    argv = ["viability", seqs, "--reference", ref, "--out", tmp_path / "o"]
    if case == "missing":
        argv[1] = tmp_path / "nope.fa"
    elif case == "empty":
        (tmp_path / "e.fa").write_text("")
        argv[1] = tmp_path / "e.fa"
    elif case == "short":
        argv += ["--window", "5000"]
    elif case == "coverage":
        argv += ["--coverage", "1.5"]
    else:
        argv += ["--train", tmp_path / "nope.fa"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "summary.json").exists()


@pytest.mark.parametrize("tokenizer", ["char", "kmer:6"])
def test_model_bits_per_base_count_every_base_a_token_stands_for(tmp_path, capsys, tokenizer):
    # A model that knows nothing (uniform over its V tokens) needs log2(V) bits per token: per
    # base that is log2(V) / 6 for 6-mers.  Dividing by tokens instead reported 6x too much.
    import torch
    from safetensors.torch import load_file, save_file

    from conftest import DATA
    from genolm.tokenize import get_tokenizer

    corpus, run = tmp_path / "corpus", tmp_path / "run"
    assert run_cli(["prepare", DATA / "lambda.fasta.gz", "--out", corpus, "--tokenizer", tokenizer, "--window", "64",
                    "--no-progress"], capsys)[0] == 0
    assert run_cli(["pretrain", "--data", corpus, "--out", run, "--model", "debug", "--steps", "1", "--batch-size", "2",
                    "--eval-batches", "1", "--device", "cpu"], capsys)[0] == 0
    weights = run / "checkpoint" / "model.safetensors"
    state = load_file(weights)
    save_file({k: torch.zeros_like(v) if "embed" in k or "lm_head" in k else v for k, v in state.items()}, weights)
    rng = np.random.default_rng(0)
    (tmp_path / "gen.fa").write_text("".join(f">g{i}\n{''.join(rng.choice(list('ACGT'), 600))}\n" for i in range(4)))
    code, _, err = run_cli(["viability", tmp_path / "gen.fa", "--reference", DATA / "lambda.fasta.gz", "--model", run,
                            "--max-reference", "20", "--folds", "2", "--markov-order", "3", "--device", "cpu",
                            "--out", tmp_path / "v"], capsys)
    assert code == 0, err
    table = pq.read_table(tmp_path / "v" / "sequences.parquet").to_pydict()
    bits = [b for s, b in zip(table["set"], table["genolm_bpb"]) if s == "gen"]
    per_token = math.log2(get_tokenizer(tokenizer).vocab_size)
    expected = per_token / (6 if tokenizer == "kmer:6" else 1)
    assert len(bits) == 4 and np.allclose(bits, expected, atol=1e-4), (expected, bits)
