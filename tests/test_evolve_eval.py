"""The building blocks of genolm evolve: dates in all three header formats (and a clear error),
time-respecting splits checked on the data, and the forecast metrics on toy sets with known answers."""

import gzip

import numpy as np
import pytest

from genolm.errors import GenolmError
from genolm.evolution.baselines import (Date, auroc, before, consensus, dated_records, distances, parse_date,
                                      precision_at, proteins, strain_pick_score, sweeps)


@pytest.mark.parametrize("text,expected", [
    ("03/15/1999", Date(1999, 3, 15)), ("3/5/1999", Date(1999, 3, 5)), ("11/2004", Date(2004, 11, None)),
    ("1968", Date(1968, None, None)), (" 2001 ", Date(2001, None, None)),
    ("2020-03-15", Date(2020, 3, 15)), ("2020-11", Date(2020, 11, None)),
])
def test_three_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "13/1999", "02/32/1999", "99", "spring 1999", "03/15/99",
                                  "1999-13-01", "1999-3-15", "15/03/1999"])
def test_unparseable_dates_are_one_clear_error(text):
    with pytest.raises(GenolmError, match="unparseable date") as e:
        parse_date(text, "A/Chiba/54/92")
    assert "A/Chiba/54/92" in str(e.value) and "MM/DD/YYYY, MM/YYYY, YYYY" in str(e.value)


def test_decimal_dates_order_within_a_year():
    assert Date(2000, 1, 1).decimal < Date(2000, 6, None).decimal < Date(2000, 12, 31).decimal < 2001
    assert Date(2000, None, None).decimal == 2000.5


def test_nothing_from_the_target_season_or_later_reaches_training(tmp_path):
    path = tmp_path / "flu.fa.gz"
    with gzip.open(path, "wt") as f:
        for i, date in enumerate(["1999", "12/31/2000", "01/01/2001", "06/2001", "2003", "11/2000"]):
            f.write(f">s{i}|acc{i}|{date}|Japan\nATGGCC\n")
    data = dated_records(path)
    train, dropped = before(data, 2001)
    assert [d.year for d in train.dates] == [1999, 2000, 2000] and dropped == 3
    assert all(d.year < 2001 for d in train.dates)
    with gzip.open(tmp_path / "bad.fa.gz", "wt") as f:
        f.write(">s0|acc|1999|x\nATG\n>s1|acc|last spring|x\nATG\n")
    with pytest.raises(GenolmError, match="s1.*unparseable date"):
        dated_records(tmp_path / "bad.fa.gz")


def test_the_real_headers_parse_and_split(tmp_path):
    from conftest import ROOT

    data = dated_records(ROOT / "data" / "h3n2_ha1_1968-2010.fasta.gz")
    years = data.years()
    assert years.min() >= 1968 and years.max() <= 2010
    train, dropped = before(data, 2005)
    assert train.years().max() <= 2004 and dropped == int((years >= 2005).sum())


def test_strain_pick_score_and_consensus():
    # candidates' mean distance to the next season: the best pick scores 1, an average one 0
    d = np.array([4.0, 2.0, 3.0, 3.0])
    assert strain_pick_score(d, 1) == 1.0 and strain_pick_score(d, 2) == 0.0 and strain_pick_score(d, 0) == -1.0
    prot = proteins(["ATGGCCAAA", "ATGGCCAGA", "ATGGCCAGA", "ATGNNNAGA"])
    assert prot.shape == (4, 3) and "".join(consensus(prot)) == "MAR"
    dist = distances(prot, prot)
    assert dist[0, 1] == 1 and dist[3, 0] == 1 and dist[3, 1] == 0  # X matches anything


def test_sweeps_auroc_and_precision_on_a_known_answer():
    last = np.array(list("MAK"))
    target = np.array([list("MAR"), list("MAR"), list("MGK"), list("MAR")])
    assert sweeps(last, target) == {(2, "R")}  # G at 25% is not a sweep
    truth = np.array([0, 1, 0, 0, 1])
    scores = np.array([0.1, 0.9, 0.3, 0.2, 0.8])
    assert auroc(scores, truth) == 1.0 and precision_at(scores, truth, 2) == 1.0
    assert precision_at(scores, truth, 4) == 0.5 and auroc(-scores, truth) == 0.0
    assert np.isnan(auroc(scores, np.zeros(5, int)))


def test_season_baselines_on_a_toy_history(tmp_path):
    from genolm.evolution.baselines import candidate_scores

    # codons: ATG=M GCC=A AAA=K AGA=R GGC=G.  2001: mostly M-A-K; late in the year M-A-R takes over;
    # 2002: everything is M-A-R (a sweep K3R, seen in 2001 at 40%).
    rows = [("2000", "ATGGCCAAA")] * 4 + [("02/2001", "ATGGCCAAA")] * 3 + [("11/2001", "ATGGCCAGA")] * 2 + \
        [("2002", "ATGGCCAGA")] * 5 + [("2002", "ATGGGCAGA")]
    (tmp_path / "t.fa").write_text("".join(f">s{i}|a|{d}|x\n{s}\n" for i, (d, s) in enumerate(rows)))
    r = candidate_scores(dated_records(tmp_path / "t.fa"), 2002)
    assert r["candidates"] == 5 and r["targets"] == 6 and r["sweeps"] == 1 and r["sweeps_unseen_last_season"] == 0
    assert r["strain_pick"]["consensus"] == pytest.approx(-2 / 3)  # the consensus M-A-K: worse than a random pick
    assert r["strain_pick"]["last 3 months profile"] == 1.0  # the November strains are the future
    best = r["mutations"][int(np.argmax(r["truth"]))]
    assert best == (2, "R") and r["mutation_pick"]["last-season frequency"]["precision@10"] == 0.1
    assert r["mutation_pick"]["last-season frequency"]["auroc"] == 1.0
