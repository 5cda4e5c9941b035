"""The interpolated Markov baseline: exact counts, the smoothing recursion, weights, N handling."""

from __future__ import annotations

import bisect
import doctest
from collections import defaultdict

import numpy as np
import pytest

import genolm.model.markov as markov_module
from genolm.bio.kmers import kmer_string
from genolm.bio.seq import reverse_complement
from genolm.errors import GenolmError
from genolm.model.markov import MarkovModel, contexts, encode, fit_weights_cv


def random_dna(rng, n: int, p=(0.25, 0.25, 0.25, 0.25)) -> str:
    return np.frombuffer(b"ACGT", np.uint8)[rng.choice(4, n, p=p)].tobytes().decode()


def order2_source(seed: int = 0):
    """A random order-2 chain: (16, 4) transition matrix and its exact entropy rate in bits."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(4, 0.4), size=16)  # row = previous two bases (b1 * 4 + b2)
    # Chain on pairs: (b1, b2) -> (b2, x) with probability P[b1 b2, x]; stationary law by power.
    T = np.zeros((16, 16))
    for s in range(16):
        for x in range(4):
            T[s, (s % 4) * 4 + x] = P[s, x]
    pi = np.full(16, 1 / 16)
    for _ in range(2000):
        pi = pi @ T
    entropy = -float(np.sum(pi[:, None] * P * np.log2(P)))
    return P, entropy


def sample_chain(P: np.ndarray, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    cum = np.cumsum(P, 1)[:, :3].tolist()  # x = number of cumulative bounds below u
    out = []
    s = 0
    for u in rng.random(n).tolist():  # a plain Python loop: test data only
        x = bisect.bisect(cum[s], u)
        out.append("ACGT"[x])
        s = (s % 4) * 4 + x
    return "".join(out)


# ----------------------------------------------------------------------------- a slow reference


def reference_log2_probs(train: list[str], seq: str, K: int, alpha, discount, both: bool) -> list[float]:
    """Counts by dictionary and the recursion base by base, straight from the module docstring."""
    seqs = [s.upper() for s in train]
    if both:
        seqs += [reverse_complement(s) for s in seqs]
    counts = [defaultdict(int) for _ in range(K + 1)]
    for s in seqs:
        for i in range(len(s)):
            for k in range(min(K, i) + 1):
                kmer = s[i - k: i + 1]
                if set(kmer) <= set("ACGT"):
                    counts[k][kmer] += 1
    seq = seq.upper()
    out = []
    for i, x in enumerate(seq):
        if x not in "ACGT":
            out.append(float("nan"))
            continue
        p = 0.25
        for k in range(K + 1):
            ctx = seq[i - k: i] if k else ""
            if k > i or not set(ctx) <= set("ACGT"):
                break
            row = [counts[k][ctx + b] for b in "ACGT"]
            n = sum(row)
            if n == 0:
                continue  # unseen context: the lower order passes through
            d = [0.0, *discount[k]]
            D = [d[min(c, 3)] for c in row]
            p = (row["ACGT".index(x)] - D["ACGT".index(x)]) / (n + alpha[k]) \
                + (alpha[k] + sum(D)) / (n + alpha[k]) * p
        out.append(float(np.log2(p)))
    return out


@pytest.mark.parametrize("both", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_log2_probs_match_the_slow_reference(both, seed):
    rng = np.random.default_rng(seed)
    K = 3
    train = [random_dna(rng, 300, p=(0.4, 0.1, 0.2, 0.3)),
             random_dna(rng, 40) + "N" + random_dna(rng, 30).lower()]
    m = MarkovModel(max_order=K, both_strands=both).fit(train)
    m.alpha = rng.uniform(0.1, 5.0, K + 1)
    m.discount = rng.uniform(0.05, 0.95, (K + 1, 3)) * np.arange(1, 4)
    seq = random_dna(rng, 60) + "NN" + random_dna(rng, 5) + "R" + random_dna(rng, 20)
    want = reference_log2_probs(train, seq, K, m.alpha, m.discount, both)
    np.testing.assert_allclose(m.log2_probs(seq), want, rtol=1e-12, atol=1e-12, equal_nan=True)
    # The (L, 4) path agrees with the scored-base path.
    codes = encode(seq)
    ok = codes < 4
    np.testing.assert_allclose(np.log2(m.probs(seq)[ok, codes[ok]]), np.array(want)[ok], rtol=1e-12)


# ----------------------------------------------------------------------------- counting


def test_both_strands_equals_fitting_on_the_reverse_complement_too():
    rng = np.random.default_rng(3)
    seqs = [random_dna(rng, 500) + "NNRY" + random_dna(rng, 200), random_dna(rng, 7).lower()]
    both = MarkovModel(max_order=5, both_strands=True).fit(seqs)
    plus = MarkovModel(max_order=5, both_strands=False).fit(seqs + [reverse_complement(s) for s in seqs])
    assert both.n_trained == plus.n_trained
    for a, b in zip(both.counts, plus.counts):
        np.testing.assert_array_equal(a, b)


def test_counts_are_exact_and_skip_kmers_with_n():
    m = MarkovModel(max_order=2, both_strands=False).fit(["ACNGTA", "aa"])

    def nonzero(k):
        return {kmer_string(int(i), k + 1): int(m.counts[k][i]) for i in np.flatnonzero(m.counts[k])}

    assert nonzero(0) == {"A": 4, "C": 1, "G": 1, "T": 1}
    assert nonzero(1) == {"AC": 1, "GT": 1, "TA": 1, "AA": 1}
    assert nonzero(2) == {"GTA": 1}
    assert m.n_trained == 7


def test_counting_in_several_flushes_equals_one(monkeypatch):
    rng = np.random.default_rng(4)
    seqs = [random_dna(rng, 300) for _ in range(5)]
    one = MarkovModel(max_order=4).fit(seqs)
    monkeypatch.setattr(markov_module, "_FLUSH", 500)
    many = MarkovModel(max_order=4).fit(seqs)
    for a, b in zip(one.counts, many.counts):
        np.testing.assert_array_equal(a, b)
    again = MarkovModel(max_order=4).fit(seqs[:2]).update(seqs[2:])
    for a, b in zip(one.counts, again.counts):
        np.testing.assert_array_equal(a, b)


def test_contexts_and_depth_around_n():
    ctx, depth = contexts(encode("ACGTNAC"), 3)
    assert depth.tolist() == [0, 1, 2, 3, 3, 0, 1]
    assert (ctx[3] & 63) == 0 * 16 + 1 * 4 + 2  # A C G before the T


# ----------------------------------------------------------------------------- prediction


def test_probabilities_sum_to_one_everywhere():
    rng = np.random.default_rng(5)
    m = MarkovModel(max_order=6).fit([random_dna(rng, 3000, p=(0.5, 0.2, 0.2, 0.1))])
    m.alpha = rng.uniform(0.01, 50, 7)
    m.discount = rng.uniform(0.01, 0.99, (7, 3)) * np.arange(1, 4)
    seq = random_dna(rng, 2000) + "N" * 10 + random_dna(rng, 100)
    p = m.probs(seq)
    assert p.shape == (len(seq), 4) and (p > 0).all()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)


def test_untrained_model_is_uniform():
    m = MarkovModel(max_order=3)
    assert m.bits_per_base(["ACGTTGCA"]) == pytest.approx(2.0)


def test_n_is_skipped_and_resets_the_context():
    rng = np.random.default_rng(6)
    m = MarkovModel(max_order=4).fit([random_dna(rng, 5000, p=(0.4, 0.1, 0.1, 0.4))])
    lp = m.log2_probs("ACGTNAcGT")
    assert np.isnan(lp[4]) and not np.isnan(np.delete(lp, 4)).any()
    assert lp[5] == m.log2_probs("A")[0]  # after an N only order 0 is left, as at a start
    assert lp[6] == m.log2_probs("AC")[1]  # and the context regrows from there (case ignored)
    score = m.evaluate(["ACGTNAcGT", "NNNN"])
    assert (score.n_scored, score.n_skipped) == (8, 5)
    assert score.bits_per_base == pytest.approx(-np.nansum(lp) / 8)


def test_characters_outside_iupac_raise_unless_read_as_n():
    m = MarkovModel(max_order=2).fit(["ACGTACGT"])
    with pytest.raises(GenolmError, match="offset 2"):
        m.log2_probs("AC-T")
    with pytest.raises(GenolmError):
        m.fit(["AC*T"])
    assert np.isnan(m.log2_probs("AC-T", unknown="n")[2])
    with pytest.raises(GenolmError, match="single string"):
        m.evaluate("ACGT")


@pytest.mark.parametrize("order", [-1, 14, 2.5, True])
def test_order_out_of_range(order):
    with pytest.raises(GenolmError, match="order"):
        MarkovModel(max_order=order)


# ----------------------------------------------------------------------------- weights and the source


def test_order2_source_reaches_its_entropy_rate():
    P, entropy = order2_source(seed=0)
    train, val, test = (sample_chain(P, n, seed) for n, seed in ((150_000, 1), (30_000, 2), (60_000, 3)))
    m = MarkovModel(max_order=5, both_strands=False).fit([train])
    fit = m.fit_weights([val])
    assert fit["bits_after"] <= fit["bits_before"]
    bits = m.bits_per_base([test])
    order0 = m.with_max_order(0)
    order0.fit_weights([val])
    # A finite test set: its empirical entropy under the true source is within ~0.01 of the rate.
    true_bits = -np.mean([np.log2(P["ACGT".index(test[i - 2]) * 4 + "ACGT".index(test[i - 1]),
                                   "ACGT".index(test[i])]) for i in range(2, len(test))])
    assert abs(true_bits - entropy) < 0.02
    assert bits == pytest.approx(true_bits, abs=0.01)  # the learned model is nearly the source
    assert order0.bits_per_base([test]) > entropy + 0.2  # order 0 cannot see the dependence


def test_fitted_loss_is_the_evaluated_bits_per_base():
    rng = np.random.default_rng(7)
    m = MarkovModel(max_order=5).fit([random_dna(rng, 20_000, p=(0.3, 0.2, 0.2, 0.3))])
    val = [random_dna(rng, 3000, p=(0.3, 0.2, 0.2, 0.3)) + "NN" + random_dna(rng, 500)]
    fit = m.fit_weights(val)
    assert fit["n_bases"] == 3500
    assert fit["bits_after"] == pytest.approx(m.bits_per_base(val), rel=1e-10)
    with pytest.raises(GenolmError, match="no validation bases"):
        m.fit_weights(["NNNN"])


def test_cross_validated_weights():
    rng = np.random.default_rng(10)
    a, b = random_dna(rng, 20_000, p=(0.4, 0.1, 0.1, 0.4)), random_dna(rng, 20_000, p=(0.1, 0.4, 0.4, 0.1))
    fold_a, fold_b = MarkovModel(max_order=3).fit([a]), MarkovModel(max_order=3).fit([b])
    one = fit_weights_cv([(fold_a, [b[:4000]])])
    same = MarkovModel(max_order=3).fit([a])
    assert same.fit_weights([b[:4000]]) == {k: v for k, v in one.items() if k not in ("alpha", "discount")}
    np.testing.assert_array_equal(same.alpha, one["alpha"])
    both = fit_weights_cv([(fold_a, [b[:4000]]), (fold_b, [a[:2000]])])
    assert both["n_bases"] == 6000 and both["bits_after"] <= both["bits_before"]
    # The loss is the mean over all validation bases, each scored by its own fold.
    for m in (fold_a, fold_b):
        m.alpha, m.discount = both["alpha"], both["discount"]
    mean = (fold_a.bits_per_base([b[:4000]]) * 4000 + fold_b.bits_per_base([a[:2000]]) * 2000) / 6000
    assert both["bits_after"] == pytest.approx(mean, rel=1e-10)
    with pytest.raises(GenolmError, match="different orders"):
        fit_weights_cv([(fold_a, [b]), (MarkovModel(max_order=2), [a])])
    with pytest.raises(GenolmError, match="no folds"):
        fit_weights_cv([])


def test_with_max_order_shares_counts_and_keeps_them_on_refit():
    rng = np.random.default_rng(8)
    m = MarkovModel(max_order=4).fit([random_dna(rng, 2000)])
    low = m.with_max_order(2)
    assert low.counts[2] is m.counts[2] and len(low.counts) == 3
    assert low.bits_per_base(["ACGTAGCT"]) != m.bits_per_base(["ACGTAGCT"])
    before = low.counts[0].copy()
    m.update(["AAAAAAAA"])
    np.testing.assert_array_equal(low.counts[0], before)  # counts are replaced, not changed in place
    with pytest.raises(GenolmError):
        m.with_max_order(5)


# ----------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    m = MarkovModel(max_order=4, both_strands=False).fit([random_dna(rng, 5000)])
    m.fit_weights([random_dna(rng, 1000)])
    m.save(tmp_path / "m.npz")
    back = MarkovModel.load(tmp_path / "m.npz")
    assert (back.max_order, back.both_strands, back.n_trained) == (4, False, m.n_trained)
    np.testing.assert_array_equal(back.alpha, m.alpha)
    np.testing.assert_array_equal(back.discount, m.discount)
    for a, b in zip(back.counts, m.counts):
        np.testing.assert_array_equal(a, b)
    seq = random_dna(rng, 300)
    np.testing.assert_array_equal(back.log2_probs(seq), m.log2_probs(seq))


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(GenolmError, match="not a genolm Markov model"):
        MarkovModel.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(GenolmError, match="readable"):
        MarkovModel.load(tmp_path / "junk.npz")
    m = MarkovModel(max_order=2)
    m.save(tmp_path / "model.markov")  # exactly this name: no ".npz" appended
    assert MarkovModel.load(tmp_path / "model.markov").max_order == 2
    m.counts[2] = m.counts[2][:5]
    m.save(tmp_path / "cut.npz")
    with pytest.raises(GenolmError, match="wrong shapes"):
        MarkovModel.load(tmp_path / "cut.npz")


def test_docstring_examples():
    assert doctest.testmod(markov_module).failed == 0
