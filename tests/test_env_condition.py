"""genolm env condition / explain: condition tokens from a sample sheet, a conditioned model that
finds a planted condition → sequence signal held out by station (and a permutation test that
says so), likelihoods that are strand-averaged and independent of batching, and bad input in
one line."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import planted, run_cli

from genolm.errors import GenolmError
from genolm.model import build_model, config_for
from genolm.environment.conditioned import permutation_test
from genolm.infer.likelihood import sequence_nats
from genolm.tokenize import get_tokenizer
from genolm.tokenize.conditions import ConditionCodec


# ---- condition tokens ----------------------------------------------------------------------------

def test_codec_bins_numeric_values_per_sample_and_keeps_levels():
    codec = ConditionCodec.fit({"temperature_c": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, None],
                                "layer": ["SUR", "DCM", "MES", "SUR", None, "SUR", "SUR", "DCM", "DCM"]}, bins=4)
    t = codec.variables[0]
    assert len(t["edges"]) == 3 and t["range"] == [1.0, 8.0]
    # bins are ordered; each value lands in one; out-of-range values fall in the end bins
    got = [codec.index("temperature_c", v) for v in (-10.0, 1.0, 2.5, 4.5, 6.5, 8.0, 99.0)]
    assert got == sorted(got) and got[0] == 0 and got[-1] == 3
    assert codec.index("temperature_c", None) == 4  # the unknown token after the 4 bins
    assert [codec.index("layer", x) for x in ("DCM", "MES", "SUR", None)] == [5, 6, 7, 8]
    assert codec.n_tokens == 9
    # each bin stands for the median of its samples' values; the grid lists every value alone
    assert t["values"][0] == pytest.approx(1.5)
    labels = [label for label, _ in codec.grid()]
    assert len(labels) == 7 and labels[-3:] == ["layer=DCM", "layer=MES", "layer=SUR"]
    assert all(codec.indices(v)[0] == b for b, (_, v) in enumerate(codec.grid()[:4]))
    # the layout survives the round trip through config.json
    again = ConditionCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert again.to_dict() == codec.to_dict() and again.indices({"layer": "MES"}) == [4, 6]
    tok = get_tokenizer("char")
    assert codec.ids({"temperature_c": 3.0}, tok) == [tok.condition_id(1), tok.condition_id(8)]


@pytest.mark.parametrize("call,message", [
    (lambda c: c.parse("temperature_c=warm"), "numeric"),
    (lambda c: c.parse("depth_m=5"), "not conditioned on 'depth_m'"),
    (lambda c: c.parse("layer"), "bad condition"),
    (lambda c: c.parse("layer=ABYSS"), "unknown value of condition 'layer'"),
    (lambda c: c.indices({"salinity_psu": 35.0}), "not conditioned on salinity_psu"),
    (lambda c: c.check_tokenizer(get_tokenizer("char", n_conditions=4)), "too many condition tokens"),
])
def test_codec_rejects_bad_conditions(call, message):
    codec = ConditionCodec.fit({"temperature_c": [1.0, 9.0, 20.0], "layer": ["SUR", "MES", "SUR"]}, bins=2)
    with pytest.raises(GenolmError, match=message):
        call(codec)


def test_codec_needs_values_and_two_bins():
    with pytest.raises(GenolmError, match="no value"):
        ConditionCodec.fit({"temperature_c": [None, None]})
    with pytest.raises(GenolmError, match="at least 2"):
        ConditionCodec.fit({"temperature_c": [1.0]}, bins=1)


# ---- the permutation test and the likelihoods ------------------------------------------------------

def test_permutation_test_finds_a_diagonal_and_not_a_flat_matrix():
    rng = np.random.default_rng(0)
    signal = rng.normal(100, 1, (8, 8)) + 10 * (1 - np.eye(8))  # own conditions 10 nats better
    r = permutation_test(signal, 999)
    assert r["p_value"] == pytest.approx(1 / 1000) and r["true"] < r["shuffled_mean"]
    assert r["shuffled_mean"] == pytest.approx(signal.sum() / 8)  # exact, not sampled
    flat = permutation_test(np.full((8, 8), 5.0), 99)
    assert flat["p_value"] == 1.0  # every shuffle ties: no evidence
    assert math.isnan(permutation_test(np.ones((1, 1)), 99)["p_value"])  # one sample: no test


def _tiny_model(tok, seed=0):
    torch.manual_seed(seed)
    return build_model(config_for("debug", vocab_size=tok.vocab_size, causal=True)).eval()


def test_likelihoods_are_strand_averaged_and_windowed_exactly():
    from genolm.bio.seq import reverse_complement
    from genolm.data.loader import complement_table
    from genolm.train.losses import clm_targets, token_losses

    tok = get_tokenizer("char")
    model = _tiny_model(tok)
    table = complement_table(tok).numpy()
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 201))
    rows = [tok.encode(seq).astype(np.int64), tok.encode(reverse_complement(seq)).astype(np.int64)]
    pre = (tok.condition_id(0), tok.condition_id(3))
    both = sequence_nats(model, tok, rows, [(0, pre), (1, pre)], window=64, batch_size=5, table=table, device="cpu")
    assert both[0] == pytest.approx(both[1], rel=1e-6)  # a sequence and its reverse complement score alike
    # One strand, one window: exactly the model's summed next-token loss after the prefix.
    fwd = sequence_nats(model, tok, rows, [(0, pre)], window=256, batch_size=1, table=None, device="cpu")
    ids = torch.as_tensor(np.r_[pre, rows[0]])[None]
    with torch.no_grad():
        direct = token_losses(model(ids), clm_targets(ids, tok.first_symbol_id)).sum()
    assert fwd[0] == pytest.approx(float(direct), rel=1e-5)
    # Batching and padding change nothing; the prefix does change the likelihood.
    jobs = [(0, pre), (1, pre), (0, (tok.condition_id(1), tok.condition_id(3)))]
    a = sequence_nats(model, tok, rows, jobs, window=64, batch_size=1, table=table, device="cpu")
    b = sequence_nats(model, tok, rows, jobs, window=64, batch_size=7, table=table, device="cpu")
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert abs(a[2] - a[0]) > 1e-4


# ---- the commands --------------------------------------------------------------------------------

BOOKKEEPING = ("--permutations", "49")  # tests of folds and options, not of the signal: few shufflings

def _condition(tmp_path, capsys, *extra, out="lm", sheet=None):
    """``genolm env condition`` on a planted sheet; ``extra`` options come last and win."""
    sheet = sheet or planted(tmp_path, n_samples=24, per_sample=12)
    code, stdout, err = run_cli(["env", "condition", "--samples", sheet, "--id-pattern", r"^(?P<sample>S\d+)_",
                                 "--condition", "temperature_c", "--condition", "water", "--flavor", "debug",
                                 "--window", "128", "--steps", "300", "--lr", "3e-3", "--bins", "4",
                                 "--folds", "3", "--permutations", "999", "--out", tmp_path / out,
                                 *extra], capsys)
    return code, stdout, err, tmp_path / out


def test_a_planted_condition_is_found_held_out_and_explains_new_sequences(tmp_path, capsys):
    code, stdout, err, out = _condition(tmp_path, capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    # whole stations are held out: none of them was trained on
    assert m["held_out"]["samples"] == 8 and not set(m["held_out"]["groups_held_out"]) & set(m["train"]["groups"])
    # temperature sets the GC content: the true conditions beat every shuffle of them
    assert m["true_bpb"] < m["shuffled_bpb"] - 0.02 and m["p_value"] < 0.01
    t = m["per_condition"]["temperature_c"]
    assert t["p_value"] < 0.01 and t["own_condition_beats"] > 0.75
    assert m["true_bpb"] < m["unknown_bpb"]
    # the same test on as many training samples: the signal is there in sample too
    assert m["in_sample"]["samples"] == 8 and m["in_sample"]["p_value"] < 0.05
    # read backwards, the model predicts the held-out samples' temperature (the mean cannot)
    q = t["predicted"]
    assert q["per_sample"]["score"] > 0.5 and q["per_sample"]["mean_baseline"] < 0.05 and q["per_sample"]["n"] == 8
    assert q["per_sequence"]["n"] == 8 * 12 and m["per_condition"]["water"]["predicted"]["per_sample"]["metric"] == "bal.acc"
    assert "temperature_c" in stdout and "unknown (unconditional)" in stdout
    scores = [r.split("\t") for r in (out / "scores.tsv").read_text().splitlines()[1:]]
    assert len(scores) == m["held_out"]["sequences"] == 8 * 12
    assert np.mean([float(r[3]) < float(r[5]) for r in scores]) > 0.7  # own beats shuffled per sequence
    for name in ("permutation.png", "metrics.jsonl", "checkpoint/model.safetensors", "checkpoint/config.json"):
        assert (out / name).is_file()
    # explain: a GC-rich sequence is best explained by the warmest bin, an AT-rich one by the coldest
    rng = np.random.default_rng(5)
    new = {"gc_rich": [0.15, 0.35, 0.35, 0.15], "at_rich": [0.35, 0.15, 0.15, 0.35]}
    (tmp_path / "new.fa").write_text("".join(f">{n}\n{''.join(rng.choice(list('ACGT'), 400, p=p))}\n"
                                             for n, p in new.items()))
    code, stdout, err = run_cli(["env", "explain", tmp_path / "new.fa", "--model", out, "--out", tmp_path / "x.tsv"],
                                capsys)
    assert code == 0, err
    header, *rows = [r.split("\t") for r in (tmp_path / "x.tsv").read_text().splitlines()]
    best = {r[0]: dict(zip(header, r))["best_temperature_c"] for r in rows}
    assert best["gc_rich"].startswith("temperature_c>=") and best["at_rich"].startswith("temperature_c<")
    assert "best_water" in header and "bpb_unknown" in header
    # --at: named condition sets, the best of them
    code, _, err = run_cli(["env", "explain", tmp_path / "new.fa", "--model", out, "--at", "temperature_c=29",
                            "--at", "temperature_c=6, water=cold", "--strand", "forward", "--out", tmp_path / "y.tsv"],
                           capsys)
    assert code == 0, err
    header, *rows = [r.split("\t") for r in (tmp_path / "y.tsv").read_text().splitlines()]
    assert header[3:5] == ["bpb[temperature_c=29]", "bpb[temperature_c=6,water=cold]"]
    assert {r[0]: r[5] for r in rows} == {"gc_rich": "temperature_c=29", "at_rich": "temperature_c=6,water=cold"}


def test_condition_fine_tunes_a_causal_run_and_refuses_a_masked_one(tmp_path, capsys):
    from genolm.train.checkpoint import save_checkpoint

    tok = get_tokenizer("char")
    for name, causal in (("clm", True), ("mlm", False)):
        model = build_model(config_for("debug", vocab_size=tok.vocab_size, causal=causal))
        tok.save(tmp_path / "tok.json")
        save_checkpoint(tmp_path / name, state_dict=model.state_dict(), config={"model": model.config.to_dict()},
                        tokenizer=tmp_path / "tok.json", train_state={}, meta={})
    code, _, err, out = _condition(tmp_path, capsys, "--init", tmp_path / "clm", "--steps", "5", *BOOKKEEPING)
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["train"]["steps"] == 5
    code, _, err, _ = _condition(tmp_path, capsys, "--init", tmp_path / "mlm", "--steps", "5", *BOOKKEEPING, out="lm2")
    assert code == 2 and "--init must be a causal model" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("extra,message", [
    (["--condition", "salinity_psu"], "no condition column 'salinity_psu'"),
    (["--fold", "3"], "--fold must be one of the --folds"),
    (["--group", "ship"], "no group column 'ship'"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--bins", "1"], "--bins must be at least 2"),
])
def test_bad_condition_input_is_one_line(tmp_path, capsys, extra, message):
    code, _, err, out = _condition(tmp_path, capsys, *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_explain_needs_a_conditioned_model(tmp_path, capsys):
    from genolm.train.checkpoint import save_checkpoint

    tok = get_tokenizer("char")
    model = build_model(config_for("debug", vocab_size=tok.vocab_size, causal=True))
    tok.save(tmp_path / "tok.json")
    save_checkpoint(tmp_path / "plain", state_dict=model.state_dict(), config={"model": model.config.to_dict()},
                    tokenizer=tmp_path / "tok.json", train_state={}, meta={})
    (tmp_path / "a.fa").write_text(">a\nACGT\n")
    code, _, err = run_cli(["env", "explain", tmp_path / "a.fa", "--model", tmp_path / "plain", "--out",
                            tmp_path / "x.tsv"], capsys)
    assert code == 2 and "not a conditioned model" in err


def test_every_fold_held_out_once_combines_into_one_test(tmp_path, capsys):
    import subprocess
    import sys

    from conftest import ROOT

    outs = []
    for fold in range(3):
        code, _, err, out = _condition(tmp_path, capsys, "--fold", str(fold), "--steps", "5", *BOOKKEEPING, out=f"f{fold}")
        assert code == 0, err
        outs.append(out)
    run = lambda *dirs: subprocess.run([sys.executable, str(ROOT / "benchmarks" / "environment" / "condition_folds.py"),
                                        *map(str, dirs), "--permutations", "99", "--out", str(tmp_path / "c.json")],
                                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    res = run(*outs)
    assert res.returncode == 0, res.stderr[-2000:]
    c = json.loads((tmp_path / "c.json").read_text())
    held = [set(json.loads((o / "metrics.json").read_text())["held_out"]["groups_held_out"]) for o in outs]
    assert c["samples"] == 24 and not (held[0] & held[1]) and len(held[0] | held[1] | held[2]) == 24
    assert set(c) >= {"all conditions", "temperature_c", "water"} and "3 folds, 24 held-out samples" in res.stdout
    bases = sum(json.loads((o / "metrics.json").read_text())["held_out"]["bases"] for o in outs)
    assert c["bases"] == bases
    twice = run(outs[0], outs[0])
    assert twice.returncode != 0 and "held out in two runs" in twice.stderr


def test_a_held_out_level_unseen_in_training_is_scored_as_unknown(tmp_path, capsys):
    from genolm.environment.evaluation import group_folds

    sheet = planted(tmp_path, n_samples=24, per_sample=12)
    lines = sheet.read_text().splitlines()
    stations = [r.split("\t")[2] for r in lines[1:]]
    held = set(np.asarray(stations)[group_folds(stations, 3, 0)[0][1]])
    row = next(i for i, r in enumerate(lines) if i and r.split("\t")[2] in held)
    lines[row] = "\t".join(lines[row].split("\t")[:4] + ["brackish"])
    sheet.write_text("\n".join(lines) + "\n")
    code, _, err, out = _condition(tmp_path, capsys, "--steps", "5", *BOOKKEEPING, sheet=sheet)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["held_out"]["unseen_levels"] == {"water": ["brackish"]} and m["held_out"]["samples"] == 8
    with pytest.raises(GenolmError, match="unknown value of condition 'water'"):
        ConditionCodec.from_dict(json.loads((out / "checkpoint" / "config.json").read_text())["conditions"]).parse(
            "water=brackish")
