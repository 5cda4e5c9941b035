"""A viability score for whole phage genomes: one calibrated number from the model's likelihood
and the biology checks, and the validation set it is fitted and judged on.

Components (each oriented so that higher means more like a living phage):

==================  ==============================================================================
``lm_bits``         minus bits per base under the design model (``--model``)
``lm_gene_bits``    minus the worst reference gene's bits per base, each read in its genome context
                    (a broken essential gene costs, however good the rest is; ``--model``)
``markov_bits``     minus bits per base under an order-``k`` Markov model of the natural genomes
``kmer_identity``   share of the genome's 16-mers found in its nearest natural genome
``genes``           the weakest reference gene: its hit's score (1 = the reference protein itself),
                    times its coverage when it is not whole, halved when the gene order differs
==================  ==============================================================================

The validation set is built from real genomes and known biology: held-out natural genomes are
viable; damaged copies of them are not — a frameshift or a premature stop in a gene, a deleted
gene, two genes swapped, a chimera with an unrelated phage, random substitutions at 0.5%, 1%,
3% and 10%.  :class:`ViabilityScore` z-scores the components on the natural genomes, fits a logistic
regression (viable or not), and reports cross-validated AUROC per damage type for the
combination and for every component alone, with the validation genomes' source held out
together.  If the combination does not beat its best component there, the score is that
component alone (calibrated the same way): the combination never ranks worse than its best part
on the validation set.  The score is a probability of viability; the verdict is ``score >= 0.5``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from genolm.bio.circular import in_register
from genolm.bio.genome_match import kmer_set, protein_hits, shared_kmers
from genolm.errors import GenolmError
from genolm.generation.funnel import Limits, in_reference_order

DAMAGE = ("frameshift", "stop", "deletion", "order", "chimera", "duplication", "substitutions_0.5%", "substitutions_1%",
          "substitutions_3%", "substitutions_10%")
DUPLICATION = (60, 400)  # bases a tandem duplication repeats: what a model that loses its place writes
COMPONENTS = ("lm_bits", "lm_gene_bits", "markov_bits", "kmer_identity", "genes")
LIMITS = Limits()  # what "present" and "whole" mean, as in the funnel


def damage(genome: str, kind: str, reference, rng: np.random.Generator, other: str | None = None) -> str:
    """A copy of ``genome`` (turned to ``reference``'s start) with one kind of damage."""
    g = in_register(genome, reference.genome)[0]
    if kind.startswith("substitutions_"):
        rate = float(kind.split("_")[1].rstrip("%")) / 100
        s = np.frombuffer(g.encode(), np.uint8).copy()
        at = rng.choice(len(s), max(1, int(round(rate * len(s)))), replace=False)
        for i in at:
            s[i] = ord(rng.choice([c for c in "ACGT" if ord(c) != s[i]]))
        return s.tobytes().decode()
    if kind == "chimera":
        if not other:
            raise GenolmError("a chimera needs another genome")
        cut = int(rng.integers(len(g) // 3, 2 * len(g) // 3))
        lo = int(rng.integers(0, max(1, len(other) - (len(g) - cut))))
        return g[:cut] + other[lo: lo + len(g) - cut]
    if kind == "duplication":  # a stretch written twice, as when generation jumps back to where it was
        size = int(rng.integers(DUPLICATION[0], DUPLICATION[1] + 1))
        at = int(rng.integers(0, len(g) - size))
        return g[:at + size] + g[at:at + size] + g[at + size:]
    genes = _genes(g, reference)
    if kind in ("frameshift", "stop"):
        start, end = genes[int(rng.integers(len(genes)))]
        at = start + 3 * int(rng.integers((end - start) // 3 // 5, 4 * (end - start) // 3 // 5))
        if kind == "frameshift":
            return g[:at] + g[at + 1:] if rng.random() < 0.5 else g[:at] + "ACGT"[int(rng.integers(4))] + g[at:]
        return g[:at] + "TAA" + g[at + 3:]
    if kind == "deletion":
        start, end = genes[int(rng.integers(len(genes)))]
        return g[:start] + g[end:]
    if kind == "order":
        apart = [(a, b) for a in genes for b in genes if a[1] <= b[0]]
        if not apart:
            raise GenolmError("no two separate genes to swap")
        (a0, a1), (b0, b1) = apart[int(rng.integers(len(apart)))]
        return g[:a0] + g[b0:b1] + g[a1:b0] + g[a0:a1] + g[b1:]
    raise GenolmError("unknown damage", expected=" | ".join(DAMAGE), found=repr(kind))


def _genes(g: str, reference) -> list[tuple[int, int]]:
    """(start, end) of each whole reference gene in ``g`` (forward strand, not across the origin),
    the longest first."""
    out = []
    for name, h in protein_hits(reference.proteins, g).items():
        length = 3 * len(reference.proteins[name]) + 3
        if h.coverage >= LIMITS.intact_coverage and h.strand == 1 and h.position + length <= len(g):
            out.append((h.position, h.position + length))
    if not out:
        raise GenolmError("no whole reference gene in the genome to damage")
    return sorted(set(out), key=lambda x: x[0] - x[1])


def validation_set(natural: list[str], reference, rng: np.random.Generator, others: list[str],
                   copies: int = 2) -> dict[str, list]:
    """The natural genomes (viable) and ``copies`` damaged copies of each per damage type."""
    seqs, viable, kinds, groups = [], [], [], []
    for i, g in enumerate(natural):
        seqs.append(g)
        viable.append(True)
        kinds.append("natural")
        groups.append(i)
        for kind in DAMAGE:
            for _ in range(copies):
                other = others[int(rng.integers(len(others)))] if others else None
                seqs.append(damage(g, kind, reference, rng, other))
                viable.append(False)
                kinds.append(kind)
                groups.append(i)
    return {"seqs": seqs, "viable": viable, "kind": kinds, "group": groups}


@dataclass
class Context:
    """What the components are measured against."""

    reference: object  # genolm.generation.funnel.Reference
    natural: list[str]  # genomes known to live (the model's training genomes)
    markov: object  # MarkovModel fitted on ``natural``
    model: object | None = None  # (model, tok, device) of a causal genolm run
    batch_size: int = 16


def components(seqs: list[str], ctx: Context, progress=None) -> dict[str, np.ndarray]:
    """Every component of every genome (higher: more like a living phage); the model's only with
    ``ctx.model``."""
    natural_kmers = [kmer_set(n) for n in ctx.natural]
    out: dict[str, list] = {k: [] for k in COMPONENTS}
    oriented, hits = [], []
    for s in seqs:
        g = in_register(s.upper(), ctx.reference.genome)[0]
        h = protein_hits(ctx.reference.proteins, g)
        oriented.append(g)
        hits.append(h)
        out["markov_bits"].append(-ctx.markov.evaluate([g], unknown="n").bits_per_base)
        mine = kmer_set(g)
        out["kmer_identity"].append(max((shared_kmers(mine, n) for n in natural_kmers), default=0.0))
        out["genes"].append(_gene_component(h, ctx.reference))
        if progress:
            progress(1)
    if ctx.model is not None:
        out["lm_bits"], out["lm_gene_bits"] = _model_components(oriented, hits, ctx)
    return {k: np.asarray(v, dtype=float) for k, v in out.items() if len(v)}


def _gene_component(hits: dict, reference) -> float:
    parts = [h.score * (1.0 if h.coverage >= LIMITS.intact_coverage else h.coverage) for h in hits.values()]
    present = [g for g, h in hits.items() if h.score >= LIMITS.present_score]
    return min(parts) * (1.0 if in_reference_order(hits, present, reference) else 0.5)


def _model_components(genomes: list[str], hits: list[dict], ctx: Context) -> tuple[list, list]:
    """Minus bits per base of each genome, and minus its worst reference gene's bits per base read
    after up to half a window of the genome before it (a gene with no hit counts 2 bits)."""
    from genolm.infer.likelihood import letters_only, nats_and_bases
    from genolm.tokenize import SEP

    model, tok, device = ctx.model
    window = model.config.max_len
    rows, jobs, owner = [], [], []
    for i, g in enumerate(genomes):
        ids = np.asarray(tok.encode(g), np.int64)
        rows.append(ids)
        jobs.append((len(rows) - 1, (SEP,)))
        owner.append((i, None))
        for name, h in hits[i].items():
            if h.score < LIMITS.present_score or h.strand != 1:
                continue
            lo, hi = h.position, min(len(g), h.position + 3 * len(ctx.reference.proteins[name]))
            before = ids[max(0, lo - window // 2): lo]
            rows.append(ids[lo:hi])
            jobs.append((len(rows) - 1, (SEP, *before.tolist())))
            owner.append((i, name))
    nats, bases = nats_and_bases(model, tok, rows, jobs, window=window, batch_size=ctx.batch_size, device=device,
                                 weight=letters_only(tok))
    bits = nats / np.maximum(bases, 1) / np.log(2)
    whole = np.full(len(genomes), np.nan)
    worst = {i: {name: 2.0 for name in ctx.reference.proteins} for i in range(len(genomes))}
    for (i, name), b in zip(owner, bits):
        if name is None:
            whole[i] = b
        else:
            worst[i][name] = b
    return list(-whole), [-max(worst[i].values()) for i in range(len(genomes))]


@dataclass
class ViabilityScore:
    """A logistic regression over z-scored components (or the one best component), fitted on a
    validation set; ``score`` is the probability of viability, ``score >= threshold`` the verdict."""

    used: list[str]
    mean: list[float]
    sd: list[float]
    coef: list[float]
    intercept: float
    threshold: float = 0.5
    markov_order: int = 6  # of the Markov component: the same order must measure new genomes
    validation: dict = field(default_factory=dict)

    def score(self, comp: dict[str, np.ndarray]) -> np.ndarray:
        missing = [k for k in self.used if k not in comp]
        if missing:
            raise GenolmError("the score needs components that were not measured", found=", ".join(missing),
                              hint="the model's components need --model")
        x = (np.stack([comp[k] for k in self.used], 1) - self.mean) / self.sd
        x = np.nan_to_num(x, nan=-10.0)  # a component that could not be measured counts against
        return np.exp(-np.logaddexp(0.0, -(x @ np.asarray(self.coef) + self.intercept)))  # the logistic, without overflow

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ViabilityScore":
        return cls(**json.loads(text))

    @classmethod
    def fit(cls, comp: dict[str, np.ndarray], viable: np.ndarray, kind: list[str], group: np.ndarray,
            folds: int = 4, seed: int = 0) -> "ViabilityScore":
        """Fit on a validation set; ``validation`` holds the cross-validated AUROC (overall and per
        damage type) of the combination and of each component alone, and which was chosen."""
        from sklearn.metrics import roc_auc_score

        viable = np.asarray(viable, bool)
        names = [k for k in COMPONENTS if k in comp and np.isfinite(comp[k]).all()]
        if not names:
            raise GenolmError("no component to build a viability score from")
        kinds = np.asarray(kind)

        def aurocs(pred: np.ndarray) -> dict:
            out = {"all": float(roc_auc_score(viable, pred))}
            for k in sorted(set(kinds[~viable])):
                m = viable | (kinds == k)
                out[k] = float(roc_auc_score(viable[m], pred[m]))
            return out

        single = {k: aurocs(comp[k]) for k in names}
        cv = _cross_validated(comp, names, viable, np.asarray(group), folds, seed)
        combined = aurocs(cv)
        best = max(names, key=lambda k: single[k]["all"])
        use = names if combined["all"] >= single[best]["all"] else [best]
        model = _fit(comp, use, viable)
        model.validation = {"components": single, "combined": combined, "chosen": "combined" if len(use) > 1 else best,
                            "n_viable": int(viable.sum()), "n_damaged": int((~viable).sum())}
        return model


def _fit(comp: dict, names: list[str], viable: np.ndarray) -> ViabilityScore:
    from sklearn.linear_model import LogisticRegression

    x = np.stack([comp[k] for k in names], 1)
    mean, sd = x[viable].mean(0), x[viable].std(0) + 1e-9
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit((x - mean) / sd, viable)
    return ViabilityScore(names, mean.tolist(), sd.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0]))


def _cross_validated(comp, names, viable, group, folds, seed) -> np.ndarray:
    """Out-of-fold probabilities, each genome's source and its damaged copies held out together."""
    from sklearn.model_selection import GroupKFold

    pred = np.zeros(len(viable))
    for train, test in GroupKFold(n_splits=min(folds, len(set(group.tolist())))).split(viable, viable, group):
        m = _fit({k: v[train] for k, v in comp.items()}, names, viable[train])
        pred[test] = m.score({k: v[test] for k, v in comp.items()})
    return pred

