"""genolm score: every substitution, scored by the cached / batched paths exactly as one full
forward pass per substitution scores it; strand averaging; amino-acid substitutions in frame;
Parquet out; bad input in one line."""


import numpy as np
import pytest
import torch

from conftest import run_cli

from genolm.bio.seq import reverse_complement
from genolm.errors import GenolmError
from genolm.model import build_model, config_for
from genolm.evolution.scoring import CODONS, Scorer, both_strands, codon_substitutions, nt_substitutions
from genolm.tokenize import SEP, get_tokenizer

TOK = get_tokenizer("char")


def model(causal=True, seed=0):
    torch.manual_seed(seed)
    return build_model(config_for("debug", vocab_size=TOK.vocab_size, causal=causal)).eval()


def random_seq(n, seed=0):
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def save_run(path, m, tok=TOK):
    from genolm.train.checkpoint import save_checkpoint

    tok.save(path.parent / "tok.json")
    save_checkpoint(path, state_dict=m.state_dict(), config={"model": m.config.to_dict()},
                    tokenizer=path.parent / "tok.json", train_state={}, meta={})
    return path


def test_substitution_lists():
    subs = nt_substitutions("ACNGT")
    assert len(subs) == 12 and (2, "A") not in subs and (0, "A") not in subs and (0, "C") in subs
    codons = codon_substitutions("ATGGCNTAA" + "GG", 0)
    assert {s for s, _ in codons} == {0, 6} and len(codons) == 2 * 63  # GCN skipped, GG incomplete
    assert {s for s, _ in codon_substitutions("AATGGCC", 1)} == {1, 4}


def test_llr_by_hand_and_cache_equals_full_passes():
    m = model()
    seq = random_seq(120)
    subs = nt_substitutions(seq)
    fast = Scorer(m, TOK, "llr", "cpu", batch_size=13).score(seq, subs)
    naive = Scorer(m, TOK, "llr", "cpu").score(seq, subs[:40], naive=True)
    np.testing.assert_allclose(fast[:40], naive, atol=5e-4)

    def loglik(s):  # the whole sequence after <sep>, by hand
        ids = torch.as_tensor(np.r_[SEP, TOK.encode(s)].astype(np.int64))[None]
        with torch.no_grad():
            lp = torch.log_softmax(m(ids), -1)[0]
        return float(lp[:-1].gather(1, ids[0, 1:, None]).sum())

    p, a = subs[100]
    mutant = seq[:p] + a + seq[p + 1:]
    assert fast[100] == pytest.approx(loglik(mutant) - loglik(seq), abs=5e-4)
    # codons (three tokens changed at once) too
    cs = codon_substitutions(seq, 2)[:70]
    np.testing.assert_allclose(Scorer(m, TOK, "llr", "cpu").score(seq, cs),
                               Scorer(m, TOK, "llr", "cpu").score(seq, cs, naive=True), atol=5e-4)


def test_long_sequences_are_windowed_the_same_way_in_both_paths():
    m = model()  # max_len 256
    seq = random_seq(900, 1)
    subs = nt_substitutions(seq)[::11]
    for suffix in (0, 16):
        sc = Scorer(m, TOK, "llr", "cpu", batch_size=32, context=96, suffix=suffix)
        np.testing.assert_allclose(sc.score(seq, subs), sc.score(seq, subs, naive=True), atol=5e-4)
    mm = Scorer(model(causal=False), TOK, "masked-marginal", "cpu", batch_size=32)
    np.testing.assert_allclose(mm.score(seq, subs), mm.score(seq, subs, naive=True), atol=1e-5)


def test_suffix_truncation_scores_fewer_tokens():
    m = model()
    seq = random_seq(200, 2)
    subs = nt_substitutions(seq)[:30]
    full = Scorer(m, TOK, "llr", "cpu").score(seq, subs)
    short = Scorer(m, TOK, "llr", "cpu", suffix=5).score(seq, subs)
    assert not np.allclose(full, short) and np.corrcoef(full, short)[0, 1] > 0.5


def test_both_strands_is_symmetric_under_reverse_complement():
    m = model()
    seq = random_seq(80, 3)
    subs = nt_substitutions(seq)
    sc = Scorer(m, TOK, "llr", "cpu")
    fwd = both_strands(sc, seq, subs)
    rc = reverse_complement(seq)
    mirrored = [(len(seq) - 1 - p, reverse_complement(a)) for p, a in subs]
    np.testing.assert_allclose(fwd, both_strands(sc, rc, mirrored), atol=5e-4)
    assert not np.allclose(fwd, sc.score(seq, subs))


def test_score_command_nt_and_aa(tmp_path, capsys):
    import pyarrow.parquet as pq

    run = save_run(tmp_path / "run", model())
    cds = "ATGGCCAAATGGTAA"  # M A K W *
    (tmp_path / "s.fa").write_text(f">cds\n{cds}\n>other\nACGTNACGT\n")
    code, out, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--out", tmp_path / "nt.parquet"], capsys)
    assert code == 0, err
    table = pq.read_table(tmp_path / "nt.parquet")
    nt = table.to_pylist()
    assert len(nt) == 3 * 15 + 3 * 8 and table.column_names == ["seq_id", "position", "ref", "alt", "score"]
    assert "llr" in out and "substitutions" in out
    row = next(r for r in nt if r["seq_id"] == "cds" and r["position"] == 4 and r["alt"] == "T")
    assert row["ref"] == "G"
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out",
                            tmp_path / "aa.parquet"], capsys)
    assert code == 0, err
    aa = [r for r in pq.read_table(tmp_path / "aa.parquet").to_pylist() if r["seq_id"] == "cds"]
    first = {r["alt_aa"]: r for r in aa if r["codon"] == 1}
    assert len(first) == 20 and set(first) == set("ACDEFGHIKLNPQRSTVWY*")
    assert {r["ref_aa"] for r in first.values()} == {"M"}
    assert first["L"]["nt_changes"] == 1 and first["W"]["nt_changes"] == 2 and first["P"]["nt_changes"] == 2
    # the score is the log-sum-exp over the codons of the amino acid
    sc = Scorer(model(), TOK, "llr", "cpu")
    leu = [c for c in CODONS if c in ("TTA", "TTG", "CTT", "CTC", "CTA", "CTG")]
    s = sc.score(cds, [(0, c) for c in leu])
    assert first["L"]["score"] == pytest.approx(float(np.log(np.exp(s).sum())), abs=1e-4)
    assert first["L"]["best_codon"] == leu[int(np.argmax(s))]
    assert {r["codon"] for r in aa} == {1, 2, 3, 4, 5}
    # in frame 1 the codons start at the second base
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--frame", "1",
                            "--out", tmp_path / "aa1.parquet"], capsys)
    assert code == 0, err
    f1 = [r for r in pq.read_table(tmp_path / "aa1.parquet").to_pylist() if r["seq_id"] == "cds"]
    assert sorted({r["position"] for r in f1}) == [2, 5, 8, 11]
    assert {r["ref_codon"] for r in f1 if r["position"] == 2} == {"TGG"}


def test_score_rejects_what_it_cannot_score(tmp_path, capsys):
    (tmp_path / "s.fa").write_text(">a\nACGTACGT\n")
    masked = save_run(tmp_path / "mlm", model(causal=False))
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", masked, "--method", "llr", "--out",
                            tmp_path / "x.parquet"], capsys)
    assert code == 2 and "--method llr needs a causal model" in err and len(err.strip().splitlines()) == 1
    kmer = get_tokenizer("kmer:3")
    km = build_model(config_for("debug", vocab_size=kmer.vocab_size, causal=True))
    run = save_run(tmp_path / "kmer", km, kmer)
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--out", tmp_path / "x.parquet"], capsys)
    assert code == 2 and "one-letter DNA/RNA tokenizer" in err
    with pytest.raises(GenolmError, match="--context"):
        Scorer(model(), TOK, "llr", "cpu", context=10_000)
    assert not (tmp_path / "x.parquet").exists()
