"""Deep mutational scanning as truth for genolm score: preferences and effects files with site
offsets and mappings, the frequency-table baseline against a hand count, Spearman against scipy,
and `score --truth --family` end to end on a planted family; bad truth files in one line."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import run_cli
from test_score import model, save_run

from genolm.errors import GenolmError
from genolm.evolution.dms import (agreement, blosum62, family_counts, frequency_scores, read_mapping, read_truth,
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
    assert set(s["agreement"]) == {"model", "frequency table", "BLOSUM62"}
    assert "frequency table" in stdout and "per site" in stdout
    tsv = out.with_suffix(".truth.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["site", "model", "frequency table", "BLOSUM62"] and len(tsv) == 4
    t = pq.read_table(out).to_pydict()
    assert {"blosum62", "frequency", "truth_effect"} <= set(t)
    assert np.isfinite(np.asarray(t["truth_effect"], float)).sum() == 57
    k = next(i for i in range(len(t["codon"])) if t["codon"][i] == 2 and t["alt_aa"][i] == "A")
    assert math.isclose(t["frequency"][k], math.log(1 / 31), rel_tol=1e-6)  # W never varies: 0 A of 30


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
