"""Scores of a binning (a clustering of reads or contigs) against the truth, as metagenomics
reports them: pair-counting and information agreement (ARI, AMI) and, per genome, how complete its
best bin is and how contaminated, counted in bases.

Conventions (as in AMBER and CheckM-style tables):
- an item whose bin is ``unbinned`` (the default marker; also -1 or None) is in no bin: it lowers
  recall and completeness, never precision;
- a bin's *purity* is the share of its bases that come from its majority genome; overall
  precision is purity averaged over bins weighted by their bases;
- a genome's *completeness* is the largest share of its bases that one bin holds, and its
  *contamination* is the share of that bin's bases from other genomes; overall recall is the
  share of all bases that sit in their genome's best bin;
- ARI and AMI are computed over the binned items only, and ``binned`` says what share that is.

>>> s = binning_scores(["a", "a", "b", "b"], [1, 1, 2, 2])
>>> s["ari"], s["precision"], s["recall"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genolm.errors import GenolmError

UNBINNED = ("unbinned", -1, None, "-1")


def binning_scores(truth: Sequence, bins: Sequence, lengths: Sequence[float] | None = None) -> dict:
    """Overall scores plus ``genomes``: {genome: {completeness, contamination, precision, recall,
    f1, bin, bases}}.  ``lengths`` weights items by their bases (default: 1 each)."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    if len(truth) != len(bins):
        raise GenolmError("truth and bins differ in length", expected=str(len(truth)), found=str(len(bins)))
    if not len(truth):
        raise GenolmError("nothing to score", hint="no sequences were binned")
    w = np.ones(len(truth)) if lengths is None else np.asarray(lengths, float)
    t_names, t = np.unique(np.asarray([str(x) for x in truth]), return_inverse=True)
    binned = np.array([b not in UNBINNED for b in bins])
    b_names, b = np.unique(np.asarray([str(x) for x in bins]), return_inverse=True)
    # (genomes, bins) bases, over binned items only
    table = np.zeros((len(t_names), len(b_names)))
    np.add.at(table, (t[binned], b[binned]), w[binned])
    genome_bases = np.bincount(t, weights=w, minlength=len(t_names))
    bin_bases = table.sum(0)
    used = bin_bases > 0
    purity = np.where(used, table.max(0) / np.maximum(bin_bases, 1e-300), 0.0)
    precision = float((purity * bin_bases).sum() / bin_bases.sum()) if bin_bases.sum() else 0.0
    best = table.argmax(1)  # each genome's best bin
    held = table[np.arange(len(t_names)), best]
    recall = float(held.sum() / genome_bases.sum())
    genomes = {}
    for g, name in enumerate(t_names):
        comp = float(held[g] / genome_bases[g]) if genome_bases[g] else 0.0
        bin_total = bin_bases[best[g]]
        cont = float(1 - held[g] / bin_total) if held[g] > 0 else 0.0
        prec = 1 - cont if held[g] > 0 else 0.0
        genomes[str(name)] = {"bin": str(b_names[best[g]]) if held[g] > 0 else None, "bases": float(genome_bases[g]),
                              "completeness": comp, "contamination": cont, "precision": prec, "recall": comp,
                              "f1": _f1(prec, comp)}
    ari = ami = None
    if binned.sum() >= 2:
        ari = float(adjusted_rand_score(t[binned], b[binned]))
        ami = float(adjusted_mutual_info_score(t[binned], b[binned]))
    return {"ari": ari, "ami": ami, "precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "binned": float(w[binned].sum() / w.sum()), "n_bins": int(used.sum()), "n_genomes": len(t_names),
            "genomes": genomes}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def classification_scores(truth: Sequence, predicted: Sequence, unassigned: str = "unassigned") -> dict:
    """Read classification against the truth: ``accuracy`` over all reads (an unassigned read is
    wrong), ``assigned`` (share with an answer), ``precision`` (right among the assigned), per label
    precision, recall and F1 (and their unweighted means), and ARI/AMI over the assigned reads.

    >>> s = classification_scores(["a", "a", "b", "b"], ["a", "unassigned", "b", "a"])
    >>> s["accuracy"], s["assigned"], round(s["precision"], 3), s["labels"]["a"]["recall"]
    (0.5, 0.75, 0.667, 0.5)
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    t = np.asarray([str(x) for x in truth])
    p = np.asarray([str(x) for x in predicted])
    if len(t) != len(p):
        raise GenolmError("truth and predictions differ in length", expected=str(len(t)), found=str(len(p)))
    if not len(t):
        raise GenolmError("nothing to score", hint="no read is in the truth table")
    given = p != unassigned
    right = t == p
    labels = {}
    for name in sorted(set(t) | (set(p[given]))):
        tp = int((right & (t == name)).sum())
        n_pred, n_true = int((p == name).sum()), int((t == name).sum())
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_true if n_true else 0.0
        labels[name] = {"reads": n_true, "predicted": n_pred, "precision": prec, "recall": rec, "f1": _f1(prec, rec)}
    in_truth = [v for k, v in labels.items() if v["reads"]]
    ari = ami = None
    if given.sum() >= 2:
        ari = float(adjusted_rand_score(t[given], p[given]))
        ami = float(adjusted_mutual_info_score(t[given], p[given]))
    return {"accuracy": float(right.mean()), "assigned": float(given.mean()),
            "precision": float(right[given].mean()) if given.any() else 0.0,
            "macro_precision": float(np.mean([v["precision"] for v in in_truth])),
            "macro_recall": float(np.mean([v["recall"] for v in in_truth])),
            "macro_f1": float(np.mean([v["f1"] for v in in_truth])),
            "ari": ari, "ami": ami, "reads": len(t), "labels": labels}
