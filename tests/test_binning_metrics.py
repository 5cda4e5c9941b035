"""Binning scores against hand-computed values on toy inputs."""

import pytest

from genolm.errors import GenolmError
from genolm.metagenome.metrics import binning_scores


def test_toy_binning_by_hand():
    # genome a: 30 bases (20 in bin 1, 10 in bin 2); b: 40 bases in bin 2; c: 5 bases unbinned.
    s = binning_scores(list("aaabbc"), [1, 1, 2, 2, 2, "unbinned"], [10, 10, 10, 20, 20, 5])
    assert s["precision"] == pytest.approx((1.0 * 20 + 0.8 * 50) / 70)  # bin purities 1 and 40/50
    assert s["recall"] == pytest.approx(60 / 75) and s["binned"] == pytest.approx(70 / 75)
    a, b, c = (s["genomes"][g] for g in "abc")
    assert a["bin"] == "1" and a["completeness"] == pytest.approx(2 / 3) and a["contamination"] == 0
    assert b["bin"] == "2" and b["completeness"] == 1 and b["contamination"] == pytest.approx(0.2)
    assert b["f1"] == pytest.approx(2 * 0.8 / 1.8)
    assert c["bin"] is None and c["completeness"] == 0 and c["f1"] == 0
    assert s["ari"] == pytest.approx(0.4 / 2.4)  # pairs: 2 agree, 1.6 expected, 4 at most
    assert s["n_bins"] == 2 and s["n_genomes"] == 3


def test_perfect_and_label_free():
    s = binning_scores(["x", "x", "y"], ["q", "q", "r"])
    assert (s["ari"], s["ami"], s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    one_bin = binning_scores(["x", "x", "y", "y"], [0, 0, 0, 0])
    assert one_bin["ari"] == 0 and one_bin["precision"] == 0.5 and one_bin["recall"] == 1.0  # complete, impure
    assert one_bin["genomes"]["x"]["contamination"] == 0.5
    with pytest.raises(GenolmError, match="differ in length"):
        binning_scores(["x"], [1, 2])
