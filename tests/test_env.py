"""genolm env fit / predict: sequences joined to their samples (by file and by id), scored held
out by station with the baselines alongside, a planted signal found, predictions that follow it,
bad input in one line."""

import json

import numpy as np
import pytest

from conftest import DATA, planted, run_cli


def test_a_planted_signal_is_found_held_out_and_predicted(tmp_path, capsys):
    sheet = planted(tmp_path)
    out = tmp_path / "fit"
    code, stdout, err = run_cli(["env", "fit", "--samples", sheet, "--id-pattern", r"^(?P<sample>S\d+)_",
                                 "--target", "temperature_c", "--target", "water", "--folds", "4", "--permutations", "9",
                                 "--out", out], capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["temperature_c"]) == {"mean", "4-mer"}  # no latitude/longitude in this sheet
    assert m["temperature_c"]["4-mer"]["score"] > 0.8 and m["temperature_c"]["mean"]["score"] < 0.05
    assert m["water"]["4-mer"]["metric"] == "bal.acc" and m["water"]["4-mer"]["score"] > 0.8
    assert m["temperature_c"]["4-mer"]["p_value"] == pytest.approx(0.1) and "p = 0.1 (9 shuffles)" in stdout
    assert "temperature_c" in stdout and "4 folds by station" in stdout
    # Per sample: the mean and spread of its sequences' held-out predictions.
    preds = [line.split("\t") for line in (out / "predictions.tsv").read_text().splitlines()[1:]]
    assert len(preds) == 2 * 12 * 30
    per = {r.split("\t")[0]: r.split("\t") for r in (out / "samples.tsv").read_text().splitlines()[1:]
           if r.split("\t")[1] == "temperature_c"}
    s0 = np.array([float(p[4]) for p in preds if p[1] == "S0" and p[2] == "temperature_c"])
    assert float(per["S0"][3]) == pytest.approx(s0.mean(), rel=1e-4) and int(per["S0"][5]) == 30
    for name in ("measured_vs_predicted.png", "model.npz", "fit.json"):
        assert (out / name).is_file()
    # predict: GC-rich sequences come out warmer than AT-rich ones, and the class follows.
    rng = np.random.default_rng(9)
    new = {"warmish": [0.15, 0.35, 0.35, 0.15], "coldish": [0.35, 0.15, 0.15, 0.35]}
    (tmp_path / "new.fa").write_text("".join(f">{n}\n{''.join(rng.choice(list('ACGT'), 300, p=p))}\n"
                                             for n, p in new.items()))
    code, _, err = run_cli(["env", "predict", tmp_path / "new.fa", "--fit", out, "--out", tmp_path / "p.tsv"], capsys)
    assert code == 0, err
    rows = [line.split("\t") for line in (tmp_path / "p.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "temperature_c", "water"]
    got = {r[0]: r for r in rows[1:]}
    assert float(got["warmish"][1]) > float(got["coldish"][1]) + 10
    assert got["warmish"][2] == "warm" and got["coldish"][2] == "cold"


def test_the_shipped_tara_sheet_joins_by_file_with_geography_baselines(tmp_path, capsys):
    out = tmp_path / "fit"
    code, stdout, err = run_cli(["env", "fit", "--samples", DATA / "tara" / "samples.tsv", "--target",
                                 "temperature_c", "--folds", "3", "--out", out], capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())["temperature_c"]
    assert set(m) == {"mean", "4-mer", "latlon", "latlon+4-mer"}
    n = sum(1 for p in (DATA / "tara").glob("*.fasta.gz") for line in __import__("gzip").open(p, "rt")
            if line.startswith(">"))
    assert all(v["n"] == n for v in m.values())
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("extra,message", [
    (["--target", "depth_m"], "no target column 'depth_m' in the sample sheet"),
    (["--target", "temperature_c", "--id-pattern", r"^(?P<sample>Q\d+)_"], "no sequence could be placed"),
    (["--target", "temperature_c", "--folds", "40"], "too few groups for the folds"),
    (["--target", "temperature_c", "--group", "ship"], "no group column 'ship'"),
])
def test_bad_fit_input_is_one_line(tmp_path, capsys, extra, message):
    sheet = planted(tmp_path, n_samples=6, per_sample=3)
    if "--id-pattern" not in extra:
        extra = [*extra, "--id-pattern", r"^(?P<sample>S\d+)_"]
    code, _, err = run_cli(["env", "fit", "--samples", sheet, "--out", tmp_path / "o", *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_predict_needs_a_fit_directory(tmp_path, capsys):
    (tmp_path / "x.fa").write_text(">a\nACGT\n")
    code, _, err = run_cli(["env", "predict", tmp_path / "x.fa", "--fit", tmp_path, "--out", tmp_path / "p.tsv"],
                           capsys)
    assert code == 2 and "not a genolm env fit directory" in err


def test_fit_with_a_model_scores_the_composition_baseline_alongside(tmp_path, capsys, masked_run):
    sheet = planted(tmp_path, n_samples=6, per_sample=4)
    run = masked_run
    out = tmp_path / "fit"
    code, stdout, err = run_cli(["env", "fit", "--samples", sheet, "--id-pattern", r"^(?P<sample>S\d+)_", "--target",
                                 "temperature_c", "--model", run, "--device", "cpu", "--folds", "3", "--out", out],
                                capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())["temperature_c"]
    assert set(m) == {"mean", "genolm", "4-mer"} and "features genolm" in stdout
    assert json.loads((out / "fit.json").read_text())["model"] == str(run)
    code, _, err = run_cli(["env", "predict", tmp_path / "all.fasta", "--fit", out, "--out", tmp_path / "p.tsv",
                            "--device", "cpu"], capsys)
    assert code == 0, err
    assert len((tmp_path / "p.tsv").read_text().splitlines()) == 1 + 6 * 4
