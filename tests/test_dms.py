"""Deep mutational scanning as truth for genolm score: preferences and effects files with site
offsets and mappings, the frequency-table baseline against a hand count, Spearman against scipy,
the reweighting of near-duplicates against a hand count, the combination's features and fit,
and `score --truth --family` end to end on a planted family; bad truth files in one line."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import run_cli
from test_score import model, save_run

from genolm.errors import GenolmError
from genolm.evolution.dms import (Combination, agreement, align_family, blosum62, family_counts, frequency_scores,
                                  held_out_agreement, pair_features, read_mapping, read_truth, sequence_weights,
                                  spearman)

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def prefs_file(path, rows, sep=","):
    """rows: (site, {aa: pref}) with the rest of each row spread evenly."""
    lines = [sep.join(["site", *AMINO])]
    for site, given in rows:
        rest = (1 - sum(given.values())) / (20 - len(given))
        lines.append(sep.join([str(site), *(f"{given.get(a, rest):.6g}" for a in AMINO)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_preferences_become_log_ratios_at_offset_codons(tmp_path):
    protein = "MSKLAVW"  # codon c (1-based) -> protein[c - 1]
    f = prefs_file(tmp_path / "p.csv", [(1, {"K": 0.5, "A": 0.1}), (3, {"A": 0.4, "V": 0.0})])
    t = read_truth(str(f), offset=2, wildtype_of=lambda c: protein[c - 1] if 1 <= c <= len(protein) else None)
    assert t.kind == "preferences" and len(t.site) == 2 * 19
    assert set(t.codon.tolist()) == {3, 5}
    i = next(k for k in range(len(t.site)) if t.site[k] == "1" and t.mutant[k] == "A")
    assert math.isclose(t.effect[i], math.log(0.1 / 0.5))
    assert "K" not in [m for s, m in zip(t.site, t.mutant) if s == "1"]  # no change to the wild type itself
    j = next(k for k in range(len(t.site)) if t.site[k] == "3" and t.mutant[k] == "V")
    assert t.effect[j] < min(e for s, e in zip(t.site, t.effect) if s == "3" and e != t.effect[j])  # zero: lowest
    tsv = prefs_file(tmp_path / "p.tsv", [(1, {"K": 0.5})], sep="\t")
    assert read_truth(str(tsv), offset=2, wildtype_of=lambda c: protein[c - 1]).codon.tolist() == [3] * 19


def test_effects_file_and_mapping(tmp_path):
    protein = "MSKLAVW"
    (tmp_path / "e.csv").write_text("site,wildtype,mutant,effect\n2,S,A,-0.5\n133a,L,P,-3\n")
    (tmp_path / "m.csv").write_text("site,codon\n133a,4\n")
    t = read_truth(str(tmp_path / "e.csv"), mapping=read_mapping(str(tmp_path / "m.csv")),
                   wildtype_of=lambda c: protein[c - 1])
    assert t.kind == "effects" and t.codon.tolist() == [2, 4] and t.effect.tolist() == [-0.5, -3.0]
    with pytest.raises(GenolmError, match="mapping file"):
        read_truth(str(tmp_path / "e.csv"), wildtype_of=lambda c: protein[c - 1])
    with pytest.raises(GenolmError, match="wild type differs"):
        read_truth(str(tmp_path / "e.csv"), offset=1, mapping={"133a": 4}, wildtype_of=lambda c: protein[c - 1])


@pytest.mark.parametrize("text, says", [
    ("site,A,C\n1,0.5,0.5\n", "unknown truth columns"),
    ("where,mutant,effect\n1,A,0\n", "'site' column"),
    ("site,mutant,effect\n1,A\n", "wrong number of columns"),
    ("site,mutant,effect\n1,B,0\n", "20 amino acids"),
    ("site,mutant,effect\n1,A,x\n", "effect must be a number"),
    ("site,mutant,effect\n1,A,nan\n", "must be finite"),
    ("site,mutant,effect\n", "no measurements"),
])
def test_bad_truth_files_say_where(tmp_path, text, says):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(GenolmError, match=says) as e:
        read_truth(str(tmp_path / "t.csv"), wildtype_of=lambda c: "M")
    assert "t.csv" in str(e.value)


def test_preferences_outside_the_protein_name_the_offset(tmp_path):
    f = prefs_file(tmp_path / "p.csv", [(9, {"K": 0.5})])
    with pytest.raises(GenolmError, match="truth-offset") as e:
        read_truth(str(f), offset=0, wildtype_of=lambda c: "MSK"[c - 1] if c <= 3 else None)
    assert "p.csv:2" in str(e.value)


def test_family_counts_match_a_hand_count():
    ref = "MKTIIALSYIL"
    fam = ["MKTIIALSYIL", "MKTIIALSYIL", "MKAIIALSYIL",  # a substitution at position 3
           "MKTIIAWLSYIL",  # an insertion after position 6: positions still line up
           "KTIIALSY",  # a fragment starting at position 2
           "MKTIALSYIL"]  # a deletion of one I
    c = family_counts(ref, fam)
    A = {a: i for i, a in enumerate(AMINO)}
    assert c[0, A["M"]] == 5 and c[1, A["K"]] == 6
    assert c[2, A["T"]] == 5 and c[2, A["A"]] == 1
    assert c[6, A["L"]] == 6 and c[:, A["W"]].sum() == 0  # the inserted W is not counted at any position
    assert c[3:5, A["I"]].sum() == 11  # one of the six lacks one of the two Is
    s = frequency_scores(c, np.array([3, 3, 1]), ["T", "T", "M"], ["A", "W", "K"])
    assert np.allclose(s, [math.log(2 / 6), math.log(1 / 6), math.log(1 / 6)])


def test_sequence_weights_match_a_hand_count():
    """Two copies of P, Q one substitution from P (90% identical), R unalignable (it covers nothing
    and is its own only neighbour), S a fragment that
    P and Q share (identity counts the positions both cover): at identity 0.9, P's neighbours are
    its 2 copies, Q and S (4); Q's and S's the same 4; at identity 1, P's are P, P, S (3), Q's Q
    and S (2), S's all four."""
    P = "MKTIIALSYI"
    fam = [P, P, "MKTIIALSYV", "WWWWWWWWWW", "TIIALS"]
    F = align_family(P, fam)
    assert F.copies.tolist() == [2, 1, 1, 1] and F.residues.shape == (4, 10)
    assert (F.residues[2] >= 0).sum() == 0 and (F.residues[3] >= 0).sum() == 6  # the fragment covers 3..8
    assert (F.residues[3][:2] == -1).all() and (F.residues[3][8:] == -1).all()
    w = sequence_weights(F, 0.9)
    assert np.allclose(w, [2 / 4, 1 / 4, 1, 1 / 4])  # P's 2 copies share 2/4; the far protein alone weighs 1
    assert np.allclose(sequence_weights(F, 1.0), [2 / 3, 1 / 2, 1, 1 / 4])
    c = F.counts(w)
    A = {a: i for i, a in enumerate(AMINO)}
    assert math.isclose(c[9, A["I"]], 0.5) and math.isclose(c[9, A["V"]], 0.25) and c[:, A["W"]].sum() == 0
    assert math.isclose(c[4, A["I"]], 0.5 + 0.25 + 0.25)
    assert np.array_equal(F.counts(), family_counts(P, fam))
    with pytest.raises(GenolmError, match="identity"):
        sequence_weights(F, 1.5)


def test_pair_features_by_hand():
    """Site 1 never varies (M); site 2 shows K x3, R x2, E x1; the mutant one-hot names the mutant."""
    counts = np.zeros((2, 20))
    A = {a: i for i, a in enumerate(AMINO)}
    counts[0, A["M"]] = 6
    counts[1, A["K"]], counts[1, A["R"]], counts[1, A["E"]] = 3, 2, 1
    f = pair_features(counts, np.array([1, 2, 2]), ["M", "K", "K"], ["L", "R", "W"], np.array([-1.0, -2.0, -3.0]))
    assert np.allclose(f["frequency"], [math.log(1 / 7), math.log(3 / 4), math.log(1 / 4)])
    h = -(0.5 * math.log(0.5) + 1 / 3 * math.log(1 / 3) + 1 / 6 * math.log(1 / 6))
    assert np.allclose(f["site_entropy"], [0, h, h])
    assert np.allclose(f["site_variants"], [0, math.log(4), math.log(4)])
    assert f["site_residues"].tolist() == [1, 2, 2]  # E once: not counted
    assert np.allclose(f["mutant_seen"], [0, math.log(3), 0])
    odds = lambda a, b: 2 ** (blosum62([a], [b])[0] / 2)  # noqa: E731
    assert np.isclose(f["similar_seen"][2], math.log((odds("W", "K") + odds("W", "R") + odds("W", "E")) / 3))
    assert np.isclose(f["similar_seen"][0], math.log(odds("L", "M")))
    assert np.allclose(f["model_site"], [-1.0, math.log(math.exp(-2) + math.exp(-3)), math.log(math.exp(-2) + math.exp(-3))])
    assert f["mutant_W"].tolist() == [0, 0, 1] and f["mutant_L"].tolist() == [1, 0, 0]


def test_combination_fits_a_planted_rule_and_round_trips(tmp_path):
    """Effects that follow 2·blosum + site_variants − frequency (plus noise): the two recovered, the
    frequency table's weight held at 0 (a feature counts only in its own direction); a fit on
    half the sites ranks the other half; the file round-trips and bad files are refused in one line."""
    rng = np.random.default_rng(0)
    n_sites, per = 40, 19

    class T:
        site = [str(s) for s in range(n_sites) for _ in range(per)]
        codon = np.repeat(np.arange(1, n_sites + 1), per)
        mutant = ["A"] * (n_sites * per)
        kind, path = "effects", "t"

    feats = {"blosum62": rng.normal(size=n_sites * per), "site_variants": np.repeat(rng.normal(size=n_sites), per),
             "frequency": rng.normal(size=n_sites * per)}
    T.effect = 2 * feats["blosum62"] + feats["site_variants"] - 0.5 * feats["frequency"] + 0.1 * rng.normal(size=n_sites * per)
    c = Combination.fit_to(feats, T.effect, ridge=1.0)
    w = dict(zip(c.features, c.weights))
    assert w["blosum62"] > 1.5 and w["site_variants"] > 0.7 and w["frequency"] == 0
    assert agreement(T, {"c": c.predict(feats)})["c"]["all_pairs"] > 0.9
    first = np.arange(n_sites * per // 2)  # the first 20 sites: standardised over all, fit on these
    half = Combination.fit_to(feats, T.effect[first], ridge=1.0, rows=first)
    assert np.allclose(half.weights, c.weights, atol=0.2)
    h = held_out_agreement(T, feats, ridge=1.0, repeats=3)
    assert h["all_pairs"] > 0.85 and h["mean_per_site"] > 0.85 and h["splits"] == 6
    c.fit["note"] = "planted"
    c.save(tmp_path / "c.json")
    back = Combination.load(tmp_path / "c.json")
    assert back.features == c.features and np.allclose(back.predict(feats), c.predict(feats))
    assert back.fit["note"] == "planted"
    with pytest.raises(GenolmError, match="lacks"):
        c.predict({"blosum62": feats["blosum62"]})
    for text, says in (("{", "must be JSON"), ('{"format": "x"}', "not a genolm combination"),
                       ('{"format": "genolm-dms-combination/1", "features": ["nope"], "weights": [1]}', "known features")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(GenolmError, match=says) as e:
            Combination.load(tmp_path / "bad.json")
        assert "bad.json" in str(e.value)


def test_shipped_combination_loads_and_reads_the_family():
    from genolm.evolution.dms import DEFAULT_COMBINATION

    c = Combination.load(DEFAULT_COMBINATION)
    assert "site_variants" in c.features and c.fit["truth"].endswith("ha1_dev_sites_prefs.csv")
    assert c.fit["held_out"]["all_pairs"] > c.fit["baselines"]["frequency table"]["all_pairs"]


def test_spearman_and_agreement_match_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y[:10] = np.round(y[:10])  # ties
    assert math.isclose(spearman(x, y), spearmanr(x, y).statistic, abs_tol=1e-12)
    assert math.isnan(spearman(np.ones(5), np.arange(5.0)))

    class T:
        site = ["1"] * 5 + ["2"] * 5
        effect = np.arange(10.0)

    a = agreement(T, {"p": np.r_[np.arange(5.0), -np.arange(5.0)]})["p"]
    assert math.isclose(a["per_site"]["1"], 1.0) and math.isclose(a["per_site"]["2"], -1.0)
    assert a["mean_per_site"] == 0.0 and a["sites"] == 2
    assert blosum62(["W", "A"], ["W", "W"]).tolist() == [11.0, -3.0]


def test_score_truth_family_end_to_end(tmp_path, capsys):
    """A family where codon 2 never varies and codon 4 takes every amino acid; the truth says
    changes at codon 2 are the worst: the frequency table agrees over all pairs."""
    import pyarrow.parquet as pq

    from genolm.bio.codon import genetic_code

    run = save_run(tmp_path / "run", model())
    cds = "ATGTGGAAAGCTCTGTAA"  # M W K A L *
    (tmp_path / "s.fa").write_text(f">cds\n{cds}\n")
    rng = np.random.default_rng(0)
    code = genetic_code(1)
    back = {}
    for c, a in zip((x + y + z for x in "TCAG" for y in "TCAG" for z in "TCAG"), code.amino_acids):
        back.setdefault(a, c)
    fam = []
    for i in range(60):
        aa = ["M", "W", rng.choice(list("KR")), AMINO[i % 20], "L"]
        fam.append((f"f{i}|x|{2000 + i % 12}", "".join(back[a] for a in aa)))
    (tmp_path / "fam.fa").write_text("".join(f">{n}\n{s}\n" for n, s in fam))
    rows = []
    for site, aa in ((1, "W"), (2, "K"), (3, "A")):
        rows.append((site, {aa: 0.9} if site == 1 else {aa: 0.3}))
    prefs_file(tmp_path / "p.csv", rows)
    out = tmp_path / "o.parquet"
    code_, stdout, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out", out,
                                  "--truth", tmp_path / "p.csv", "--truth-offset", "1", "--family", tmp_path / "fam.fa",
                                  "--family-until", "2005", "--no-progress", "--report", tmp_path / "r.html"], capsys)
    assert code_ == 0, err
    page = (tmp_path / "r.html").read_text()  # the agreement table, the scatters and the per-site profile
    assert "Against the lab" in page and "Measured against frequency table" in page
    assert "Spearman within each measured site" in page and "agrees best over all pairs" in page
    s = json.loads(out.with_suffix(".truth.json").read_text())
    assert s["pairs"] == 57 and s["sites"] == 3 and s["family"]["sequences"] == 30
    assert s["family"]["left_out_after_until"] == 30
    assert s["agreement"]["frequency table"]["all_pairs"] > 0.6
    assert set(s["agreement"]) == {"combined", "model", "frequency table", "BLOSUM62"}
    assert "frequency table" in stdout and "per site" in stdout
    tsv = out.with_suffix(".truth.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["site", "combined", "model", "frequency table", "BLOSUM62"] and len(tsv) == 4
    t = pq.read_table(out).to_pydict()
    assert {"blosum62", "frequency", "combined", "truth_effect"} <= set(t)
    stop = [i for i, (r, a) in enumerate(zip(t["ref_aa"], t["alt_aa"])) if "*" in (r, a)]  # to or from a stop
    assert stop and all(math.isnan(t["combined"][i]) for i in stop)
    assert np.isfinite(np.delete(np.asarray(t["combined"], float), stop)).all()

    # fit a combination to this truth, then use it: the same column, and a file that says where it came from
    common = ["--truth", tmp_path / "p.csv", "--truth-offset", "1", "--family", tmp_path / "fam.fa", "--no-progress"]
    code_, stdout, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out", tmp_path / "f.parquet",
                                  *common, "--fit-combination", tmp_path / "c.json", "--fit-model",
                                  "--family-identity", "0.9"], capsys)
    assert code_ == 0, err
    assert "combined (held out)" in stdout and "combination written to" in stdout
    fitted = json.loads((tmp_path / "c.json").read_text())
    assert "model" in fitted["features"] and fitted["fit"]["pairs"] == 57 and "held_out" in fitted["fit"]
    assert set(fitted["fit"]["baselines"]) == {"model", "frequency table", "BLOSUM62"}
    assert fitted["fit"]["family_identity"] == 0.9
    f_summary = json.loads((tmp_path / "f.truth.json").read_text())
    assert "combined (in sample)" in f_summary["agreement"]
    assert f_summary["family"]["reweighting_identity"] == 0.9 and 0 < f_summary["family"]["effective_sequences"] <= 60
    code_, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out", tmp_path / "g.parquet",
                             *common, "--combination", tmp_path / "c.json", "--family-identity", "0.9"], capsys)
    assert code_ == 0, err
    f, g = (pq.read_table(tmp_path / x).column("combined").to_numpy() for x in ("f.parquet", "g.parquet"))
    assert np.allclose(f, g, equal_nan=True)
    for extra, says in ((["--combination", tmp_path / "c.json", "--fit-combination", tmp_path / "d.json"], "not both"),
                        (["--fit-model"], "--fit-model goes with"), (["--family-identity", "2"], "identity")):
        code_, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out",
                                 tmp_path / "h.parquet", *common, *extra], capsys)
        assert code_ == 2 and says in err and not (tmp_path / "h.parquet").exists(), err
    assert np.isfinite(np.asarray(t["truth_effect"], float)).sum() == 57
    k = next(i for i in range(len(t["codon"])) if t["codon"][i] == 2 and t["alt_aa"][i] == "A")
    assert math.isclose(t["frequency"][k], math.log(1 / 31), rel_tol=1e-6)  # W never varies: 0 A of 30


def test_a_model_trained_where_one_site_never_varies_scores_changes_there_lowest(tmp_path, capsys, one_thread):
    """The planted toy: 400 coding sequences of 8 codons, each codon varying among six amino acids,
    except codon 4 (always W).  A debug model trained on them for 400 steps scores every change
    at codon 4 below the changes elsewhere (its mean and its best), and so does the combined
    score of the same family."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    choices = ["GCT", "AAA", "GAT", "CTG", "TTC", "AGC"]  # A K D L F S
    ref = ["GCT", "AAA", "GAT", "TGG", "CTG", "TTC", "AGC", "GCT"]
    seqs = []
    for _ in range(400):  # each codon but the fourth: the reference's half the time, else any of the six
        codons = [c if rng.random() < 0.5 else choices[rng.integers(len(choices))] for c in ref]
        codons[3] = "TGG"
        seqs.append("".join(codons))
    (tmp_path / "toy.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    (tmp_path / "ref.fa").write_text(f">ref\n{''.join(ref)}\n")
    assert run_cli(["prepare", tmp_path / "toy.fa", "--out", tmp_path / "c", "--window", "50", "--val-fraction", "0",
                    "--no-progress"], capsys)[0] == 0
    assert run_cli(["pretrain", "--data", tmp_path / "c", "--out", tmp_path / "run", "--model", "debug", "--steps", "400",
                    "--batch-size", "16", "--lr", "3e-3", "--device", "cpu", "--no-rc-augment", "--eval-every", "1000",
                    "--no-progress"], capsys)[0] == 0
    out = tmp_path / "o.parquet"
    code, _, err = run_cli(["score", tmp_path / "ref.fa", "--model", tmp_path / "run", "--level", "aa", "--out", out,
                            "--family", tmp_path / "toy.fa", "--no-progress"], capsys)
    assert code == 0, err
    t = pq.read_table(out).to_pydict()
    codon, alt = np.array(t["codon"]), np.array(t["alt_aa"])
    for column in ("score", "combined"):
        x = np.array(t[column], float)
        ok = alt != "*"
        mean = [x[ok & (codon == c)].mean() for c in range(1, 9)]
        best = [x[ok & (codon == c)].max() for c in range(1, 9)]
        assert int(np.argmin(mean)) == 3 and int(np.argmin(best)) == 3, (column, mean, best)


def test_score_truth_refuses_nt_level_and_many_sequences(tmp_path, capsys):
    run = save_run(tmp_path / "run", model())
    (tmp_path / "s.fa").write_text(">a\nATGTGGAAATAA\n>b\nATGTGGAAATAA\n")
    prefs_file(tmp_path / "p.csv", [(1, {"W": 0.5})])
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--out", tmp_path / "o.parquet",
                            "--truth", tmp_path / "p.csv"], capsys)
    assert code == 2 and "--level" in err
    code, _, err = run_cli(["score", tmp_path / "s.fa", "--model", run, "--level", "aa", "--out",
                            tmp_path / "o.parquet", "--truth", tmp_path / "p.csv", "--truth-offset", "1"], capsys)
    assert code == 2 and "one scored sequence" in err and not (tmp_path / "o.parquet").exists()


del torch  # imported for test_score's helpers
