"""Mutation effects against the lab: deep mutational scanning as ground truth for ``genolm score``.

Truth files (CSV or TSV, one header line):

* **preferences**: a ``site`` column and one column per amino acid (the 20 letters), each row the
  measured preference of every amino acid at that site (Bloom-lab ``dms_tools2`` output; each row
  sums to 1).  The effect of wild type → a at a site is log(pref[a] / pref[wt]).
* **effects**: columns ``site``, ``mutant`` (one letter) and ``effect`` (higher: better tolerated),
  with an optional ``wildtype`` that is checked against the scored sequence.

A truth site ``s`` is codon ``s + offset`` (1-based) of the scored sequence: the H3 HA of
A/Perth/16/2009 scanned by Lee et al. 2018 starts with a 16-codon signal peptide, so its HA1
site 1 is codon 17 (``--truth-offset 16``).  Sites that are not numbers (H3 numbering has
insertions such as ``133a``) are refused unless a mapping file names their codon.

Baselines, beside the model in every run:

* **frequency table**: the family's amino acids at each position (each family protein aligned to
  the scored protein with edlib), log((n[a] + 1) / (n[wt] + 1)) — site-independent, pseudocount 1;
* **BLOSUM62**: the substitution matrix's score of wt → a.

Agreement is Spearman's rank correlation over every (site, amino acid) pair, and its mean over
sites (within a site: which amino acids a site tolerates, whatever the site's overall importance).

>>> round(spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 40, 30])), 2)
0.8
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.bio.genome_stats import AMINO_ACIDS as AMINO  # the 20, alphabetical
from genolm.errors import GenolmError


@dataclass
class Truth:
    """Measured effects of single amino-acid changes: parallel arrays, one entry per (site, mutant)."""

    path: str
    site: list[str]  # as the file names it
    codon: np.ndarray  # 1-based codon of the scored sequence
    mutant: list[str]
    effect: np.ndarray
    kind: str  # "preferences" | "effects"
    wildtype: list[str | None]  # from the file (effects with a wildtype column), else None


def _reader(path: str):
    text = Path(path).read_text()
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    return csv.reader(text.splitlines(), delimiter=delimiter)


def read_mapping(path: str) -> dict[str, int]:
    """A mapping file: two columns, the truth's site name and the 1-based codon of the scored sequence."""
    out = {}
    for i, row in enumerate(_reader(path), 1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) != 2:
            raise GenolmError("a mapping row needs two columns", file=path, line=i,
                              expected="site, codon", found=",".join(row))
        try:
            out[row[0].strip()] = int(row[1])
        except ValueError:
            if i == 1:  # a header line
                continue
            raise GenolmError("a codon number must be an integer", file=path, line=i, found=row[1]) from None
    return out


def read_truth(path: str, offset: int = 0, mapping: dict[str, int] | None = None,
               wildtype_of=None) -> Truth:
    """Read a preferences or effects file.  ``wildtype_of(codon)``: the scored sequence's amino acid
    at a 1-based codon (None beyond its end); preferences need it for the effect's denominator."""
    if not Path(path).is_file():
        raise GenolmError("no such truth file", file=path)
    rows = list(_reader(path))
    if not rows:
        raise GenolmError("empty truth file", file=path)
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if "site" not in lower:
        raise GenolmError("a truth file needs a 'site' column", file=path, line=1, found=",".join(header),
                          hint="preferences: site,A,C,…,Y; effects: site,mutant,effect[,wildtype]")
    i_site = lower.index("site")
    prefs = set(AMINO) <= set(header)
    if not prefs and not {"mutant", "effect"} <= set(lower):
        raise GenolmError("unknown truth columns", file=path, line=1, found=",".join(header),
                          expected="site + the 20 amino acids (preferences), or site, mutant, effect")

    def codon_of(site: str, line: int) -> int:
        if mapping is not None and site in mapping:
            return mapping[site]
        try:
            return int(site) + offset
        except ValueError:
            raise GenolmError("a site that is not a number", file=path, line=line, found=repr(site),
                              hint="give a mapping file (site, codon) for insertion codes such as 133a") from None

    def number(text: str, line: int, what: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise GenolmError(f"{what} must be a number", file=path, line=line, found=repr(text)) from None
        if not math.isfinite(x):
            raise GenolmError(f"{what} must be finite", file=path, line=line, found=repr(text))
        return x

    site, codon, mutant, effect, wt_col = [], [], [], [], []
    columns = {a: header.index(a) for a in AMINO} if prefs else None
    for line, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            raise GenolmError("wrong number of columns", file=path, line=line,
                              expected=str(len(header)), found=str(len(row)))
        s = row[i_site].strip()
        c = codon_of(s, line)
        if prefs:
            p = {a: number(row[j], line, f"preference of {a}") for a, j in columns.items()}
            if any(v < 0 for v in p.values()):
                raise GenolmError("a preference below 0", file=path, line=line, record=s)
            wt = wildtype_of(c) if wildtype_of else None
            if wt not in p:
                raise GenolmError("the truth's site lies outside the scored protein, or at a stop", file=path,
                                  line=line, record=s, found=f"codon {c}: {wt!r}",
                                  hint="check --truth-offset (codons before site 1)")
            floor = min([v for v in p.values() if v > 0], default=1.0) / 10  # a zero preference: below every measured one
            for a in AMINO:
                if a != wt:
                    site.append(s), codon.append(c), mutant.append(a), wt_col.append(None)
                    effect.append(math.log(max(p[a], floor) / max(p[wt], floor)))
        else:
            m = row[lower.index("mutant")].strip().upper()
            if m not in AMINO:
                raise GenolmError("a mutant must be one of the 20 amino acids", file=path, line=line, found=repr(m))
            w = row[lower.index("wildtype")].strip().upper() if "wildtype" in lower else None
            if w is not None and wildtype_of is not None and wildtype_of(c) != w:
                raise GenolmError("the truth's wild type differs from the scored sequence", file=path, line=line,
                                  record=s, expected=f"{wildtype_of(c)!r} at codon {c}", found=repr(w),
                                  hint="check --truth-offset (codons before site 1)")
            site.append(s), codon.append(c), mutant.append(m), wt_col.append(w)
            effect.append(number(row[lower.index("effect")], line, "effect"))
    if not site:
        raise GenolmError("no measurements in the truth file", file=path)
    return Truth(str(path), site, np.array(codon, np.int64), mutant, np.array(effect), "preferences" if prefs else "effects",
                 wt_col)


# ---- baselines -----------------------------------------------------------------------------------

@dataclass
class Family:
    """The family's distinct proteins aligned to the scored protein: ``residues[i, j]`` is the amino
    acid (index into the 20) of distinct protein i at reference position j, -1 where it has none
    (a gap, an X, a fragment's end); ``copies[i]`` how many family proteins were identical to it."""

    residues: np.ndarray  # (distinct, len(reference)) int8
    copies: np.ndarray  # (distinct,) float

    def counts(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(len(reference), 20) sum of ``weights`` (default: the copies) of the proteins showing
        each amino acid at each position."""
        w = self.copies if weights is None else np.asarray(weights, float)
        L = self.residues.shape[1]
        out = np.zeros((L, len(AMINO)))
        i, j = np.nonzero(self.residues >= 0)
        np.add.at(out, (j, self.residues[i, j]), w[i])
        return out


MIN_IDENTITY = 0.3  # of a family protein's residues matching the reference, or it is left out


def align_family(reference: str, proteins: list[str]) -> Family:
    """Each distinct family protein aligned to the reference with edlib (free to start and end
    anywhere in it: fragments count where they cover); an insertion in the family protein is
    skipped, a deletion leaves the reference position empty.  A protein with fewer than 30% of
    its residues matching the reference covers nothing (it is not of the family)."""
    import edlib

    index = {a: i for i, a in enumerate(AMINO)}
    unique: dict[str, int] = {}
    for p in proteins:
        if p:
            unique[p] = unique.get(p, 0) + 1
    residues = np.full((len(unique), len(reference)), -1, np.int8)
    copies = np.zeros(len(unique))
    for n, (p, c) in enumerate(unique.items()):
        copies[n] = c
        hit = edlib.align(p, reference, mode="HW", task="path")
        if hit["editDistance"] < 0 or not hit["locations"]:
            continue
        r = hit["locations"][0][0]
        ops = list(_cigar(hit["cigar"]))
        # edlib may leave an end residue unaligned ("I") where a mismatch costs the same: align it
        if ops and ops[0][1] == "I" and ops[0][0] <= r:
            r -= ops[0][0]
            ops[0] = (ops[0][0], "X")
        end = r + sum(n for n, op in ops if op != "I")
        if ops and ops[-1][1] == "I" and end + ops[-1][0] <= len(reference):
            ops[-1] = (ops[-1][0], "X")
        if sum(n for n, op in ops if op == "=") < MIN_IDENTITY * len(p):
            continue  # not of the family: it would only add noise
        q = 0
        for length, op in ops:
            if op in "=XM":
                for k in range(length):
                    j = index.get(p[q + k])
                    if j is not None:
                        residues[n, r + k] = j
                q, r = q + length, r + length
            elif op == "I":  # in the family protein, not the reference
                q += length
            else:  # "D": reference positions the protein lacks
                r += length
    return Family(residues, copies)


def family_counts(reference: str, proteins: list[str]) -> np.ndarray:
    """(len(reference), 20) counts of each amino acid at each reference position among the
    family proteins, each aligned to the reference (:func:`align_family`)."""
    return align_family(reference, proteins).counts().astype(np.int64)


def sequence_weights(family: Family, identity: float, block: int = 512) -> np.ndarray:
    """Reweighting of near-duplicates (as EVE and DeepSequence do): each family protein weighs
    1 / (the number of family proteins at least ``identity`` identical to it, itself included),
    identity over the positions both cover.  Returns one weight per distinct protein, its copies
    included (so a protein seen k times with no other neighbour weighs 1 in all)."""
    if not 0 < identity <= 1:
        raise GenolmError("the reweighting identity must lie in (0, 1]", found=str(identity))
    R = family.residues
    n, L = R.shape
    onehot = np.zeros((n, L * len(AMINO)), np.float32)
    i, j = np.nonzero(R >= 0)
    onehot[i, j * len(AMINO) + R[i, j]] = 1
    covered = (R >= 0).astype(np.float32)
    neighbours = np.zeros(n)
    for a in range(0, n, block):  # (block, n) identities at a time: memory stays small
        same = onehot[a: a + block] @ onehot.T
        both = covered[a: a + block] @ covered.T
        close = same >= identity * np.maximum(both, 1) - 1e-6
        rows = np.arange(len(close))
        close[rows, a + rows] = True  # itself, even when it covers nothing
        neighbours[a: a + block] = close.astype(float) @ family.copies
    return family.copies / neighbours


def _cigar(cigar: str):
    num = ""
    for ch in cigar:
        if ch.isdigit():
            num += ch
        else:
            yield int(num), ch
            num = ""


def frequency_scores(counts: np.ndarray, codon: np.ndarray, wt: list[str], mutant: list[str],
                     pseudocount: float = 1.0) -> np.ndarray:
    """log((n[a] + pseudocount) / (n[wt] + pseudocount)) at each (1-based codon, wt, mutant)."""
    index = {a: i for i, a in enumerate(AMINO)}
    rows = counts[codon - 1]
    a = np.array([index[m] for m in mutant])
    w = np.array([index[x] for x in wt])
    k = np.arange(len(codon))
    return np.log((rows[k, a] + pseudocount) / (rows[k, w] + pseudocount))


def blosum62(wt: list[str], mutant: list[str]) -> np.ndarray:
    from scoring_matrices import ScoringMatrix

    m = ScoringMatrix.from_name("BLOSUM62")
    return np.array([m[w, a] for w, a in zip(wt, mutant)], float)


# ---- the combination: genolm's reading of a family and a model ---------------------------------

FAMILY_FEATURES = ("frequency", "site_entropy", "site_variants", "site_residues", "mutant_seen", "similar_seen")
MODEL_FEATURES = ("model", "model_site")
FEATURES = FAMILY_FEATURES + ("blosum62",) + MODEL_FEATURES + tuple(f"mutant_{a}" for a in AMINO)
DEFAULT_COMBINATION = Path(__file__).with_name("dms_combination.json")


def _blosum_odds() -> np.ndarray:
    from scoring_matrices import ScoringMatrix

    m = ScoringMatrix.from_name("BLOSUM62")
    return 2.0 ** (np.array([[m[a, b] for b in AMINO] for a in AMINO], float) / 2)  # half-bit scores -> odds


def pair_features(counts: np.ndarray, codon: np.ndarray, wt: list[str], mutant: list[str],
                  model: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """What the combination reads at each (1-based codon, wild type, mutant), all 20 letters:

    * frequency — the frequency table, log((n[a] + 1) / (n[wt] + 1));
    * site_entropy — entropy (nats) of the family's amino acids at the site: how much it varies;
    * site_variants — log(1 + the family's proteins that differ from the wild type there);
    * site_residues — how many amino acids the family shows there at least twice (once may be an error);
    * mutant_seen — log(1 + n[a]);
    * similar_seen — log of the mean BLOSUM62 odds of the mutant to the amino acids the site shows;
    * blosum62 — wt → mutant;
    * model, model_site (given ``model``, the model's score of each pair) — the score, and
      log Σ exp(score) over the site's pairs: how readily the model changes the site at all;
    * mutant_A … mutant_Y — which amino acid the mutant is (some, such as P, are rarely tolerated).
    """
    index = {a: i for i, a in enumerate(AMINO)}
    w = np.array([index[x] for x in wt])
    a = np.array([index[x] for x in mutant])
    rows = counts[np.asarray(codon) - 1].astype(float)
    k = np.arange(len(a))
    n = rows.sum(1)
    share = rows / np.maximum(n, 1e-12)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(share > 0, share * np.log(share), 0.0).sum(1)
    seen = rows > 0
    odds = _blosum_odds()
    similar = (seen * odds[a]).sum(1) / np.maximum(seen.sum(1), 1)
    out = {"frequency": frequency_scores(counts, np.asarray(codon), wt, mutant),
           "site_entropy": entropy,
           "site_variants": np.log1p(n - rows[k, w]),
           "site_residues": (rows >= 2).sum(1).astype(float),
           "mutant_seen": np.log1p(rows[k, a]),
           "similar_seen": np.log(np.where(seen.any(1), similar, odds[a, w])),
           "blosum62": blosum62(wt, mutant)}
    if model is not None:
        model = np.asarray(model, float)
        site = np.full(len(a), np.nan)
        for c in np.unique(codon):
            m = np.asarray(codon) == c
            top = model[m].max()
            site[m] = top + np.log(np.exp(model[m] - top).sum())
        out["model"], out["model_site"] = model, site
    for x in AMINO:
        out[f"mutant_{x}"] = (a == index[x]).astype(float)
    return out


def combined_table(reference: str, counts: np.ndarray, combination: "Combination | None" = None) -> np.ndarray:
    """(len(reference), 20) the combined score of every change of the reference (0 for its own amino
    acid and at positions that are not one of the 20), from the family's ``counts``."""
    combination = combination or Combination.load(DEFAULT_COMBINATION)
    index = {a: i for i, a in enumerate(AMINO)}
    codon, wt, mutant = [], [], []
    for j, r in enumerate(reference):
        if r in index:
            for a in AMINO:
                if a != r:
                    codon.append(j + 1), wt.append(r), mutant.append(a)
    out = np.zeros((len(reference), len(AMINO)))
    if codon:
        codon = np.array(codon)
        out[codon - 1, [index[a] for a in mutant]] = combination.predict(pair_features(counts, codon, wt, mutant))
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _design(features: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """(rows, features): each feature standardised over every row given (the whole run)."""
    missing = [f for f in names if f not in features]
    if missing:
        raise GenolmError("the combination reads features this run lacks", found=", ".join(missing),
                          hint="model features need the model's scores; family features need --family")
    return np.column_stack([_standardise(np.asarray(features[f], float)) for f in names])


def _ridge(X: np.ndarray, y: np.ndarray, ridge: float, names: list[str]) -> list[float]:
    """Ridge regression of y on X, the weight of every feature that says "tolerated" when high
    (all but the mutant's letter) kept at or above 0: a feature can only count in its own direction,
    so features that share information cannot cancel each other with opposite signs."""
    from scipy.optimize import lsq_linear

    X = X - X.mean(0)
    y = np.asarray(y, float) - np.mean(y)
    k = X.shape[1]
    lower = np.array([-np.inf if f.startswith("mutant_") and f != "mutant_seen" else 0.0 for f in names])
    w = lsq_linear(np.vstack([X, math.sqrt(ridge) * np.eye(k)]), np.r_[y, np.zeros(k)], bounds=(lower, np.inf)).x
    return [round(float(v), 6) for v in w]


@dataclass
class Combination:
    """A linear reading of the features of :func:`pair_features`, each standardised over the run's
    rows (so a family's size or a model's scale does not matter), weights fit by ridge regression
    on measured effects, each feature's weight in its own direction (``fit``: where they came from
    and how well they did)."""

    features: list[str]
    weights: list[float]
    ridge: float
    fit: dict

    def predict(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return _design(features, self.features) @ np.asarray(self.weights)

    @classmethod
    def fit_to(cls, features: dict[str, np.ndarray], effect: np.ndarray, names: list[str] | None = None,
               ridge: float = 10.0, rows: np.ndarray | None = None, provenance: dict | None = None) -> "Combination":
        """Weights that best predict ``effect``, measured at ``rows`` of the features (default: all)."""
        names = [f for f in FEATURES if f in features] if names is None else list(names)
        X = _design(features, names)
        return cls(names, _ridge(X if rows is None else X[rows], effect, ridge, names), ridge, dict(provenance or {}))

    def save(self, path: str | Path) -> None:
        from genolm.io.atomic import atomic_file

        body = {"format": "genolm-dms-combination/1", "features": self.features, "weights": self.weights,
                "ridge": self.ridge, "fit": self.fit}
        with atomic_file(Path(path)) as tmp:
            Path(tmp).write_text(json.dumps(body, indent=1, default=float) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Combination":
        try:
            body = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GenolmError("no such combination file", file=str(path)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise GenolmError("a combination file must be JSON", file=str(path), found=str(e)) from None
        if not isinstance(body, dict) or body.get("format") != "genolm-dms-combination/1":
            raise GenolmError("not a genolm combination file", file=str(path), expected="format: genolm-dms-combination/1",
                              hint="write one with genolm score --truth … --fit-combination FILE")
        names, weights = body.get("features"), body.get("weights")
        if (not isinstance(names, list) or not isinstance(weights, list) or len(names) != len(weights) or not names
                or any(f not in FEATURES for f in names)
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in weights)):
            raise GenolmError("a combination needs as many finite weights as known features", file=str(path),
                              expected=", ".join(FEATURES[:8]) + ", …")
        return cls(names, [float(v) for v in weights], float(body.get("ridge", 0.0)), body.get("fit", {}))


def held_out_agreement(truth: "Truth", features: dict[str, np.ndarray], names: list[str] | None = None,
                       ridge: float = 10.0, rows: np.ndarray | None = None, repeats: int = 20, seed: int = 0) -> dict:
    """How a combination fit on half the sites ranks the other half: the sites split in two at
    random ``repeats`` times, fit on each half, Spearman on the other; the mean of each measure.
    ``rows``: the row of the features of each truth pair (default: the features are the pairs')."""
    names = [f for f in FEATURES if f in features] if names is None else list(names)
    X = _design(features, names)
    X = X if rows is None else X[rows]
    sites = np.array(truth.site)
    distinct = list(dict.fromkeys(truth.site))
    rng = np.random.default_rng(seed)
    all_pairs, per_site = [], []
    for _ in range(repeats):
        half = np.isin(sites, rng.permutation(distinct)[: len(distinct) // 2])
        for test in (half, ~half):
            w = np.asarray(_ridge(X[~test], truth.effect[~test], ridge, names))
            part = Truth(truth.path, sites[test].tolist(), truth.codon[test], [m for m, t in zip(truth.mutant, test) if t],
                         truth.effect[test], truth.kind, [None] * int(test.sum()))
            r = agreement(part, {"x": X[test] @ w})["x"]
            all_pairs.append(r["all_pairs"])
            per_site.append(r["mean_per_site"])
    def mean(values):
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    return {"all_pairs": mean(all_pairs), "mean_per_site": mean(per_site), "splits": 2 * repeats}


# ---- agreement -----------------------------------------------------------------------------------

def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def agreement(truth: Truth, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Spearman over every pair and its mean over sites (sites where it is defined), per predictor."""
    sites = np.array(truth.site)
    out = {}
    for name, pred in predictions.items():
        per_site = {}
        for s in dict.fromkeys(truth.site):
            m = sites == s
            per_site[s] = spearman(pred[m], truth.effect[m])
        defined = [v for v in per_site.values() if np.isfinite(v)]
        out[name] = {"all_pairs": spearman(pred, truth.effect),
                     "mean_per_site": float(np.mean(defined)) if defined else float("nan"),
                     "sites": len(defined), "pairs": int(np.isfinite(pred).sum()), "per_site": per_site}
    return out
