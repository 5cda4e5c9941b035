"""genolm evolve: time-respecting training, the two forecasts, their evaluation and the outputs."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import BASE, history, run_cli, write_history
from genolm.errors import GenolmError
from genolm.evolution.forecast import nt_consensus, percentile_rank, recency_weights
from genolm.evolution.baselines import Date, lbi



FAST = ["--steps", "3", "--batch-size", "4", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("evolve")
    return write_history(d / "flu.fa", history())


def test_nothing_from_the_target_season_or_later_reaches_training(toy, tmp_path, capsys, monkeypatch):
    import genolm.evolution.forecast as ec
    from genolm.tokenize import get_tokenizer

    seen = {}
    real = ec.train_conditioned

    def spy(model, tok, rows, *a, **kw):
        seen["raw"], seen["weights"] = rows, kw["weights"]
        return real(model, tok, rows, *a, **kw)

    monkeypatch.setattr(ec, "train_conditioned", spy)
    code, out, _ = run_cli(["evolve", "--data", toy, "--until", "2000", "--predict", "2001", "--out", tmp_path / "o"] + FAST,
                           capsys)
    assert code == 0
    tok = get_tokenizer("char", unknown="n")
    trained = sorted(tuple(r.tolist()) for r in seen["raw"])
    sep = seen["raw"][0][0]
    encode = lambda s: tuple([sep] + list(tok.encode(s)))  # noqa: E731
    assert trained == sorted(encode(s) for d, s in history() if int(d[-4:]) <= 2000)  # exactly 1998-2000
    future = [encode(s) for d, s in history() if int(d[-4:]) > 2000 and s != BASE]  # K3R and L6I strains
    assert len(trained) == 18 and future and not set(future) & set(trained)
    r = json.loads((tmp_path / "o" / "forecast.json").read_text())
    assert r["train"]["latest_date"] == "2000-06" and r["train"]["left_out_later"] == 12
    # recent sequences weigh more: June 2000 over January 1998
    w = seen["weights"]
    assert w[17] > w[0] and w[17] / w[0] == pytest.approx(2 ** ((Date(2000, 6, None).decimal - Date(1998, 1, None).decimal)))


def test_forecast_and_its_evaluation_on_a_known_answer(toy, tmp_path, capsys):
    code, out, _ = run_cli(["evolve", "--data", toy, "--until", "2001", "--out", tmp_path / "o", "--top", "5"] + FAST, capsys)
    assert code == 0 and "strain pick for 2002" in out
    o = tmp_path / "o"
    r = json.loads((o / "forecast.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert r["until"] == 2001 and r["predict"] == 2002 and r["candidates"] == 6
    e = r["evaluation"]
    assert {s["mutation"]: s["unseen_last_season"] for s in e["sweeps"]} == {"K3R": False, "L6I": True}
    assert e["sweeps_unseen_last_season"] == 1 and e["precision@10_ceiling"] == 0.2
    assert set(e["strain_pick"]) == {"genolm", "fitness model", "consensus", "last 3 months profile", "LBI"}
    assert set(e["population_distance"]) == {"fitness model", "last 3 months", "last season"}
    # the November K3R strains are one change (L6I) from 2002's; the season's mean is (4·2 + 2·1) / 6
    assert e["population_distance"]["last 3 months"] == 1.0 and e["population_distance"]["last season"] == pytest.approx(10 / 6)
    assert r["fitness_model"]["terms"] == ["lbi"] and r["fitness_model"]["fit_seasons"] == [1998, 1999, 2000]
    assert e["strain_pick"]["last 3 months profile"] == 1.0  # the November K3R strains
    assert e["mutation_pick"]["last-season frequency"]["precision@10"] == 0.1  # K3R is the only one seen
    assert len(r["top_mutations"]) == 5 and e["mutations_ranked"] == 10 * 19
    table = pq.read_table(o / "mutations.parquet").to_pylist()
    assert len(table) == 190 and sum(t["swept"] for t in table) == 2
    k3r = next(t for t in table if t["mutation"] == "K3R")
    assert k3r["codon"] == 3 and k3r["ref_aa"] == "K" and k3r["last_season_frequency"] == pytest.approx(2 / 6)
    assert k3r["rise"] == pytest.approx(2 / 6)
    lines = (o / "candidates.tsv").read_text().splitlines()
    assert len(lines) == 7 and lines[0].split("\t")[-1] == "mean_aa_distance_to_target"
    assert (o / "landscape.png").stat().st_size > 10_000
    # the output is a genolm run: genolm score reads its model
    code, out, _ = run_cli(["score", toy, "--model", o, "--out", tmp_path / "s.parquet", "--level", "aa",
                            "--device", "cpu", "--no-progress"], capsys)
    assert code == 0


def test_mutation_scores_are_the_models_aa_llrs_on_the_consensus(toy, tmp_path, capsys):
    """genolm's mutation score of K3R is genolm score --level aa of K->R at codon 3 of the consensus."""
    assert run_cli(["evolve", "--data", toy, "--until", "2001", "--out", tmp_path / "o"] + FAST, capsys)[0] == 0
    cons = tmp_path / "cons.fa"
    cons.write_text(f">c\n{BASE}\n")  # the 2001 consensus (4 of 6 are the base strain)
    assert run_cli(["score", cons, "--model", tmp_path / "o", "--out", tmp_path / "s.parquet", "--level", "aa",
                    "--device", "cpu", "--no-progress"], capsys)[0] == 0
    ref = {(r["codon"], r["alt_aa"]): r["score"] for r in pq.read_table(tmp_path / "s.parquet").to_pylist()}
    ours = {(r["codon"], r["alt_aa"]): r["genolm"] for r in pq.read_table(tmp_path / "o" / "mutations.parquet").to_pylist()}
    assert ours[(3, "R")] == pytest.approx(ref[(3, "R")], abs=1e-4)
    assert all(ours[k] == pytest.approx(v, abs=1e-4) for k, v in ref.items() if k in ours)


def test_dates_from_a_metadata_table_and_the_backtest(toy, tmp_path, capsys):
    rows = history()
    fa = write_history(tmp_path / "plain.fa", rows, header=False)
    meta = tmp_path / "meta.tsv"
    meta.write_text("strain\tdate\n" + "".join(f"s{i}\t{d}\n" for i, (d, _) in enumerate(rows)))
    code, out, _ = run_cli(["evolve", "--data", fa, "--metadata", meta, "--id-column", "strain",
                            "--backtest", "2001-2002", "--out", tmp_path / "b"] + FAST, capsys)
    assert code == 0
    b = tmp_path / "b"
    s = json.loads((b / "summary.json").read_text())
    assert s["summary"]["seasons"] == [2001, 2002]
    per = [json.loads((b / f"season_{y}" / "forecast.json").read_text()) for y in (2001, 2002)]
    assert [p["until"] for p in per] == [2000, 2001] and per[0]["train"]["latest_date"] == "2000-06"
    for k in per[0]["evaluation"]["strain_pick"]:
        assert s["summary"]["strain_pick"][k]["mean"] == pytest.approx(np.mean([p["evaluation"]["strain_pick"][k] for p in per]))
    assert len((b / "summary.tsv").read_text().splitlines()) == 3 and (b / "seasons.png").is_file()
    assert "genolm + frequency" in out and "±" in out


@pytest.mark.parametrize("case, message", [
    ("unaligned", "not aligned"), ("predict", "--predict must come after --until"),
    ("no past", "no sequence is dated in or before 1990"),
    ("empty season", "no sequence is dated in the last observed season 2003"),
    ("metadata id", "record has no row in the metadata"), ("metadata column", "metadata has no such column"),
    ("bad date", "unparseable date"),
])
def test_bad_input_is_one_clear_line(toy, tmp_path, capsys, case, message):
    argv = ["evolve", "--data", toy, "--until", "2001", "--out", tmp_path / "o"] + FAST
    if case == "unaligned":
        argv[2] = write_history(tmp_path / "u.fa", history() + [("2001", BASE + "AAA")])
    elif case == "predict":
        argv += ["--predict", "2001"]
    elif case in ("no past", "empty season"):
        argv[4] = "1990" if case == "no past" else "2003"
    elif case == "bad date":
        argv[2] = write_history(tmp_path / "d.fa", history() + [("last spring", BASE)])
    else:
        (tmp_path / "m.tsv").write_text("id\twhen\ns0\t2001\n" if case == "metadata column" else "id\tdate\ns0\t2001\n")
        argv += ["--metadata", tmp_path / "m.tsv"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_helpers():
    w = recency_weights([Date(2000, 7, 1), Date(1999, 7, 1), Date(1990, None, None)], 2001.0, 1.0)
    assert w[0] / w[1] == pytest.approx(2.0) and (recency_weights([Date(1990, None, None)], 2001.0, 0.0) == 1).all()
    assert nt_consensus(["ACGT", "ACGA", "NCGA"]) == "ACGA" and nt_consensus(["NA", "NC", "NC"]) == "NC"
    assert percentile_rank(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [1.0, 1 / 6, 1 / 6, 2 / 3]
    with pytest.raises(GenolmError):
        from genolm.evolution.forecast import parse_range
        parse_range("2010-2001")


def test_lbi_by_hand():
    # UPGMA: (0,1) at height 0.5, 2 joins at 0.5, 3 at the root (height 2); tau = 1
    d = np.array([[0, 1, 1, 4], [1, 0, 1, 4], [1, 1, 0, 4], [4, 4, 4, 0]], float)
    e = np.exp
    up_leaf, up3 = 1 - e(-0.5), 1 - e(-2)
    up5 = (1 - e(-1.5)) + e(-1.5) * (2 * up_leaf + up_leaf)  # node (0,1) has a zero-length branch
    down5 = (1 - e(-1.5)) + e(-1.5) * up3
    leaf2 = up_leaf + e(-0.5) * (down5 + 2 * up_leaf)
    leaf3 = up3 + e(-2) * up5
    assert lbi(d, tau=1.0) == pytest.approx([leaf2, leaf2, leaf2, leaf3])
