"""The fitness model of genolm evolve (genolm.evolution.fitness): the population grows by
fitness, weights are fit only on past seasons, a growing clade is picked on a planted history,
and nothing dated after --until is ever read."""

import json

import numpy as np
import pytest

from conftest import history, run_cli, write_history
from genolm.errors import GenolmError
from genolm.evolution import fitness
from genolm.evolution.baselines import Dated, Date, proteins

A = "GCT"  # alanine
V = "GTT"  # valine
K = "AAA"  # lysine


def planted(seasons=range(2000, 2008), n=20):
    """Every season, the clade carrying V at codon 3 doubles its share (from 1 in 20), the rest
    are the base strain or carry a scattered K; sampled in every month."""
    base = [A] * 8
    ids, seqs, dates = [], [], []
    share = 1 / n
    for y in seasons:
        k = max(1, round(share * n))
        for i in range(n):
            codons = list(base)
            if i < k:
                codons[2] = V
            elif i % 5 == 0:
                codons[5 + i % 3] = K
            ids.append(f"s{y}_{i}|x|{1 + i % 12:02d}/{y}")
            seqs.append("".join(codons))
            dates.append(Date(y, 1 + i % 12, None))
        share = min(share * 2, 0.95)
    return Dated(ids, seqs, dates)


def test_population_and_pick_follow_a_growing_clade():
    data = planted(range(2000, 2005))  # the V clade: 1, 2, 4, 8, 16 of 20
    prot = proteins(data.seqs)
    r = fitness.forecast(data, prot, 2004, months=12, use=("growth",))
    assert r["weights"]["growth"] > 0 and r["fit_seasons"] == [2000, 2001, 2002, 2003]
    season = r["season"]
    now, p = season.now, r["population"]
    grown = prot[season.candidates][:, 2] == "V"
    assert p[grown].sum() > now[grown].sum() > 0  # the rising clade's share grows
    assert prot[season.candidates][r["pick"], 2] == "V"
    f = fitness.predicted_frequency(prot, season, p, [(2, "V"), (2, "A"), (0, "K")])
    assert f[0] == pytest.approx(p[grown].sum()) and f[0] + f[1] == pytest.approx(1) and f[2] == 0


def test_the_lbi_term_favours_dense_clades():
    """LBI (local branching index) of the season's tree: in 2003 the eight identical V strains
    score above the two scattered K strains, and the fitness model can run on it alone."""
    data = planted(range(2000, 2005))  # 2003: 8 of 20 in the V clade, K at i = 10 and 15
    prot = proteins(data.seqs)
    season = fitness.season_terms(data, prot, 2003, 12)
    C = prot[season.candidates]
    clade, scattered = C[:, 2] == "V", (C == "K").any(1)
    assert clade.sum() == 8 and scattered.sum() == 2
    assert season.terms["lbi"][clade].min() > season.terms["lbi"][scattered].max()
    r = fitness.forecast(data, prot, 2004, months=12, use=("lbi",))
    assert set(r["weights"]) == {"lbi"} and r["population"].sum() == pytest.approx(1)


def test_weights_are_fit_on_the_seasons_that_were_seen():
    """With the growth term, past seasons' forecasts (each of the season after it) come closer to
    what followed than without; the chosen loss is the best of the grid."""
    data = planted()
    prot = proteins(data.seqs)
    years = data.years()
    hist = [fitness.season_terms(data, prot, s, 12) for s in range(2000, 2006)]
    targets = {s + 1: np.flatnonzero(years == s + 1) for s in range(2000, 2006)}
    w, loss = fitness.fit_weights(hist, prot, targets)
    zero = np.mean([fitness.mean_distance(prot, h, h.now, targets[h.season + 1]) for h in hist])
    assert w["growth"] > 0 and loss < zero
    assert fitness.fit_weights([], prot, {})[0] == {}


def test_the_fitness_model_never_reads_past_until(tmp_path, capsys, monkeypatch):
    """Handed a later record it refuses; through genolm evolve it gets only records up to --until,
    and records planted after --until (a clade no earlier season has) change nothing it says."""
    data = planted()
    prot = proteins(data.seqs)
    with pytest.raises(GenolmError, match="after --until"):
        fitness.forecast(data, prot, 2005)

    seen = []
    real = fitness.forecast

    def spy(d, *a, **kw):
        seen.append(int(d.years().max()))
        return real(d, *a, **kw)

    monkeypatch.setattr(fitness, "forecast", spy)
    rows = history()
    fast = ["--steps", "2", "--batch-size", "4", "--device", "cpu", "--no-progress", "--until", "2001", "--predict", "2002"]
    code, _, err = run_cli(["evolve", "--data", write_history(tmp_path / "a.fa", rows), "--out", tmp_path / "a"] + fast,
                           capsys)
    assert code == 0, err
    poison = [(f"0{m}/2003", "TTT" * 10) for m in range(1, 10)] + [(f"0{m}/2002", "CCC" * 10) for m in range(1, 7)]
    code, _, err = run_cli(["evolve", "--data", write_history(tmp_path / "b.fa", rows + poison), "--out", tmp_path / "b"]
                           + fast, capsys)
    assert code == 0, err
    assert seen == [2001, 2001]
    a, b = (json.loads((tmp_path / x / "forecast.json").read_text()) for x in "ab")
    assert a["fitness_model"] == b["fitness_model"]
    assert a["strain_pick"]["fitness model"] == b["strain_pick"]["fitness model"]


@pytest.mark.parametrize("argv, says", [
    (["--fitness-terms", "growth,speed"], "fitness"),
    (["--fitness-terms", "growth,epitope"], "--epitope-sites"),
    (["--fitness-terms", "epitope", "--epitope-sites", "0,4"], "from 1"),
    (["--fitness-terms", "epitope", "--epitope-sites", "a,b"], "positions"),
])
def test_bad_fitness_options_are_one_line(tmp_path, capsys, argv, says):
    code, _, err = run_cli(["evolve", "--data", write_history(tmp_path / "a.fa", history()), "--until", "2001",
                            "--out", tmp_path / "o", "--steps", "2", "--device", "cpu", "--no-progress", *argv], capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_epitope_term_reads_the_named_sites(tmp_path, capsys):
    code, _, err = run_cli(["evolve", "--data", write_history(tmp_path / "a.fa", history()), "--until", "2001",
                            "--out", tmp_path / "o", "--steps", "2", "--batch-size", "4", "--device", "cpu",
                            "--no-progress", "--fitness-terms", "growth,epitope", "--epitope-sites", "2,6"], capsys)
    assert code == 0, err
    r = json.loads((tmp_path / "o" / "forecast.json").read_text())
    assert r["fitness_model"]["terms"] == ["growth", "epitope"] and set(r["fitness_model"]["weights"]) == {"growth", "epitope"}
