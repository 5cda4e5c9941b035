"""Judging generated sequences against real genomes cut to the same length: composition (GC, skew,
homopolymers, k-mer spectra), genes (pyrodigal: coding density, lengths, amino-acid composition),
Markov and genolm bits per base, memorisation of the training data, and a k-mer discriminator,
each criterion with a passing range from the real windows' own spread.  The command is
``genolm viability`` (its --help lists the statistics and outputs)."""

from __future__ import annotations

import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.infer.likelihood import bits_per_base
from genolm.io.arguments import CommandArgs
from genolm.io.progress import plural
from genolm.io.progress import progress as progress_bar
from genolm.report import figures
from genolm.train.distributed import resolve_device

KS = (3, 4, 5, 6, 7, 8)
# statistic -> which side of the reference's spread passes
CRITERIA = {"gc": "both", "gc_skew": "both", "homopolymer": "upper", "js6": "upper",
            "coding_density": "lower", "gene_aa": "both", "stop_rate": "both", "aa_js": "upper",
            "markov_bpb": "both"}


@dataclass(kw_only=True)
class ViabilityArgs(CommandArgs):
    """Options of ``genolm viability`` (see its --help)."""

    seqs: list[str]
    reference: list[str]
    train: list[str] = field(default_factory=list)
    window: int = 0  # 0: the median length of the first set
    max_reference: int = 1000
    markov_order: int = 6
    model: str | None = None
    coverage: float = 0.95
    max_match: int = 200
    disc_k: int = 4
    folds: int = 5
    gene_maps: int = 3
    batch_size: int = 32
    score: bool = False  # the whole-genome viability score (needs genome, annotation, train)
    genome: str | None = None  # the annotated reference genome (FASTA)
    annotation: str | None = None  # its CDS (GFF3)
    damage_copies: int = 2

    def check(self) -> None:
        if not self.out:
            self.fail("out", "an output directory", self.out)
        if self.score and not (self.genome and self.annotation and self.train):
            raise GenolmError("--score needs --genome and --annotation (the annotated reference) and --train "
                              "(the natural genomes the model learnt from)",
                              hint="--reference then holds whole natural genomes kept out of training")
        if (self.genome or self.annotation) and not self.score:
            raise GenolmError("--genome and --annotation are for --score")
        for path in [p for p in (self.genome, self.annotation) if p]:
            if not Path(path).is_file():
                raise GenolmError("no such file", file=path)
        self.at_least("damage_copies", 1)
        if isinstance(self.coverage, bool) or not isinstance(self.coverage, (int, float)) or not 0 < self.coverage < 1:
            raise GenolmError("--coverage must be between 0 and 1", found=str(self.coverage))
        self.at_least("window", 0)
        self.at_least("max_reference", 4)
        self.at_least("folds", 2)
        self.at_least("max_match", 1)
        self.within("markov_order", 0, 12)
        self.within("disc_k", 1, 8)
        self.at_least("gene_maps", 0)
        self.at_least("batch_size", 1)


# ----------------------------------------------------------------------------- input


def set_name(path: str) -> str:
    name = Path(path).name
    for ext in (".gz", ".bz2", ".xz", ".zst", ".fasta", ".fa", ".fna", ".fas", ".fastq", ".fq"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name or "set"


def read_set(path: str) -> tuple[list[str], list[str]]:
    from genolm.io.seqio import read_records

    if not Path(path).is_file():
        raise GenolmError("no such sequence file", file=path)
    ids, seqs = [], []
    for r in read_records(path, case="upper"):
        ids.append(r.id)
        seqs.append(r.seq)
    if not seqs:
        raise GenolmError("no sequences in the file", file=path)
    return ids, seqs


def reference_windows(paths: list[str], window: int, limit: int, rng: np.random.Generator
                      ) -> tuple[list[str], list[str]]:
    """Consecutive windows of ``window`` bases of every reference record (a record shorter than
    that is one window when at least half as long; windows over 10% N are left out), at most
    ``limit`` of them, drawn at random."""
    ids, seqs = [], []
    for path in paths:
        rid, rseq = read_set(path)
        for name, s in zip(rid, rseq):
            if len(s) < window:
                cuts = [(0, len(s))] if len(s) >= window // 2 else []
            else:
                cuts = [(lo, lo + window) for lo in range(0, len(s) - window + 1, window)]
            for lo, hi in cuts:
                w = s[lo:hi]
                if w.count("N") <= 0.1 * len(w):
                    ids.append(f"{name}:{lo}-{hi}")
                    seqs.append(w)
    if len(seqs) < 4:
        raise GenolmError("too few reference windows to set thresholds", found=str(len(seqs)),
                          expected="at least 4", hint="give more reference sequence or a shorter --window")
    if len(seqs) > limit:
        keep = np.sort(rng.choice(len(seqs), limit, replace=False))
        ids, seqs = [ids[i] for i in keep], [seqs[i] for i in keep]
    return ids, seqs


# ----------------------------------------------------------------------------- statistics


def call_all_genes(seqs: list[str], progress: bool) -> list[list]:
    """pyrodigal genes (metagenomic mode) of every sequence, on all cores."""
    import os

    from genolm.bio.orfs import call_genes, gene_finder

    finder = gene_finder([], meta=True)
    bar = progress_bar(len(seqs), "viability: genes", "seq", enabled=progress)
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        out = []
        for genes in pool.map(lambda s: call_genes(s, finder=finder, unknown="n"), seqs):
            out.append(genes)
            bar.update(1)
    bar.close()
    return out


def basic_stats(seqs: list[str], genes: list[list]) -> dict[str, np.ndarray]:
    """The statistics of each sequence that need no reference."""
    from genolm.bio.genome_stats import coding_density, gc_skew, longest_homopolymer, stop_rate
    from genolm.bio.seq import gc_content

    cols = {"length": [], "gc": [], "gc_skew": [], "homopolymer": [], "stop_rate": [], "genes": [],
            "coding_density": [], "gene_aa": []}
    for s, gs in zip(seqs, genes):
        cols["length"].append(len(s))
        cols["gc"].append(gc_content(s, unknown="n"))
        cols["gc_skew"].append(gc_skew(s))
        cols["homopolymer"].append(longest_homopolymer(s))
        cols["stop_rate"].append(stop_rate(s))
        cols["genes"].append(len(gs))
        cols["coding_density"].append(coding_density(len(s), [(g.start, g.end) for g in gs]))
        cols["gene_aa"].append(float(np.mean([g.length_aa for g in gs])) if gs else float("nan"))
    return {k: np.asarray(v) for k, v in cols.items()}


def spectra(seqs: list[str]) -> dict[int, np.ndarray]:
    from genolm.bio.genome_stats import kmer_spectra

    return {k: kmer_spectra(seqs, k) for k in KS}


def compare_to_pool(spec: dict[int, np.ndarray], aa: np.ndarray, pools: list[tuple[dict, np.ndarray]]
                    ) -> dict[str, np.ndarray]:
    """Per row: JS divergence of its k-mer spectra and protein composition to each pool
    ((k-mer spectra, amino-acid counts) of reference sequence), averaged over the pools."""
    from genolm.bio.genome_stats import js_divergence

    n = len(aa)
    out = {f"js{k}": np.zeros(n) for k in KS} | {"aa_js": np.zeros(n)}
    for pool_spec, pool_aa in pools:
        for k in KS:
            out[f"js{k}"] += [js_divergence(row, pool_spec[k]) for row in spec[k]]
        out["aa_js"] += [js_divergence(row, pool_aa) if row.sum() else np.nan for row in aa]
    return {key: v / len(pools) for key, v in out.items()}


def markov_bits(model, seqs: list[str]) -> np.ndarray:
    return np.array([model.evaluate([s], unknown="n").bits_per_base for s in seqs])


def genolm_bits(run: str, seqs: list[str], device: str, batch_size: int, progress: bool) -> np.ndarray:
    """Bits per base of each sequence under a causal genolm run (windows of its max_len), for any
    tokenizer: a k-mer's loss counts for the bases it stands for."""
    from genolm.train.checkpoint import load_model

    device = resolve_device(device)
    model, tok, _ = load_model(run, device)
    if not model.config.causal:
        raise GenolmError("--model must be a causal run (next-base bits per base)", file=run)
    rows = [np.asarray(tok.encode(s), np.int64) for s in seqs]
    return bits_per_base(model, tok, rows, device=device, batch_size=batch_size, progress=progress)


def thresholds(ref: dict[str, np.ndarray], coverage: float) -> dict[str, dict]:
    """The passing range of each criterion, from the reference windows' own values."""
    tail = (1 - coverage) / 2
    out = {}
    for stat, side in CRITERIA.items():
        v = ref[stat][np.isfinite(ref[stat])]
        if not len(v):
            continue
        lo = float(np.quantile(v, tail)) if side in ("both", "lower") else None
        hi = float(np.quantile(v, 1 - tail)) if side in ("both", "upper") else None
        out[stat] = {"side": side, "low": lo, "high": hi}
    return out


def verdicts(table: dict[str, np.ndarray], limits: dict[str, dict], max_match: int | None) -> dict[str, np.ndarray]:
    out = {}
    for stat, t in limits.items():
        v = table[stat]
        ok = np.isfinite(v)
        if t["low"] is not None:
            ok &= v >= t["low"]
        if t["high"] is not None:
            ok &= v <= t["high"]
        out[f"pass_{stat}"] = ok
    out["viable"] = np.logical_and.reduce(list(out.values()))
    if max_match is not None and "longest_match" in table:
        out["pass_novel"] = table["longest_match"] < max_match
    return out


def discriminator_auroc(real: list[str], other: list[str], k: int, folds: int, seed: int) -> tuple[float, float]:
    """Cross-validated AUROC (mean, sd over folds) of a logistic regression on canonical k-mer
    frequencies telling ``other`` from ``real``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from genolm.bio.kmers import kmer_profiles

    x = kmer_profiles(list(real) + list(other), k, canonical=True, unknown="n")
    y = np.r_[np.zeros(len(real)), np.ones(len(other))]
    n_folds = min(folds, len(real), len(other))
    if n_folds < 2:
        return float("nan"), float("nan")
    scores = []
    for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(x, y):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        clf.fit(x[train], y[train])
        scores.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------- run


def run(args: ViabilityArgs) -> dict:
    from genolm.bio.genome_stats import aa_counts, js_divergence
    from genolm.model.markov import MarkovModel

    for path in list(args.train) + list(args.reference):  # before any long work
        if not Path(path).is_file():
            raise GenolmError("no such training file" if path in args.train else "no such reference file", file=path)
    progress = not args.no_progress
    rng = np.random.default_rng(args.seed)
    sets = []
    for path in args.seqs:
        ids, seqs = read_set(path)
        name = set_name(path)
        while name in {s[0] for s in sets} or name == "reference":
            name += "_"
        sets.append((name, ids, seqs))
    window = args.window or int(np.median([len(s) for s in sets[0][2]]))
    ref_ids, ref_seqs = reference_windows(args.reference, window, args.max_reference, rng)
    half = np.zeros(len(ref_seqs), bool)  # True: half B
    half[rng.permutation(len(ref_seqs))[: len(ref_seqs) // 2]] = True

    names = ["reference"] * len(ref_seqs) + [n for n, ids, _ in sets for _ in ids]
    ids = list(ref_ids) + [i for _, ids_, _ in sets for i in ids_]
    seqs = list(ref_seqs) + [s for _, _, seqs_ in sets for s in seqs_]
    is_ref = np.r_[np.ones(len(ref_seqs), bool), np.zeros(len(seqs) - len(ref_seqs), bool)]
    in_b = np.r_[half, np.zeros(len(seqs) - len(ref_seqs), bool)]
    in_a = is_ref & ~in_b

    print(f"viability: {plural(len(ref_seqs), 'reference window')} of {window:,} bases; "
          + ", ".join(f"{n}: {len(s)}" for n, _, s in sets), file=sys.stderr)
    genes = call_all_genes(seqs, progress)
    table = basic_stats(seqs, genes)
    aa = np.stack([aa_counts(g.protein for g in gs) for gs in genes])
    spec = spectra(seqs)

    def pool(mask):
        return {k: spec[k][mask].sum(0) for k in KS}, aa[mask].sum(0)

    pool_a, pool_b = pool(in_a), pool(in_b)
    markov = []
    for mask in (in_a, in_b):
        markov.append(MarkovModel(args.markov_order).fit([seqs[i] for i in np.flatnonzero(mask)], unknown="n"))
    js = {key: np.zeros(len(seqs)) for key in [f"js{k}" for k in KS] + ["aa_js"]}
    bits = np.zeros(len(seqs))
    for rows, pools, models in ((in_a, [pool_b], [markov[1]]), (in_b, [pool_a], [markov[0]]),
                                (~is_ref, [pool_a, pool_b], markov)):
        idx = np.flatnonzero(rows)
        part = compare_to_pool({k: spec[k][idx] for k in KS}, aa[idx], pools)
        for key, v in part.items():
            js[key][idx] = v
        bits[idx] = np.mean([markov_bits(m, [seqs[i] for i in idx]) for m in models], axis=0)
    table |= js
    table["markov_bpb"] = bits
    if args.model:
        table["genolm_bpb"] = genolm_bits(args.model, seqs, args.device, args.batch_size, progress)
    if args.train:
        table |= memorisation(args.train, seqs, progress)
    limits = thresholds({k: v[is_ref] for k, v in table.items()}, args.coverage)
    table |= verdicts(table, limits, args.max_match if args.train else None)
    validation = whole_genome_score(args, seqs, table, progress) if args.score else None

    summary = []
    n_b = int(in_b.sum())
    for name in ["reference"] + [s[0] for s in sets]:
        mask = np.array([n == name for n in names])
        row = {"set": name, "n": int(mask.sum())}
        for key in ("gc", "gc_skew", "homopolymer", "stop_rate", "genes", "coding_density", "gene_aa", "aa_js",
                    "js6", "markov_bpb", "genolm_bpb", "shared_31mers"):
            if key in table:
                row[key] = float(np.nanmean(table[key][mask]))
        if "longest_match" in table:
            row["longest_match_max"] = int(table["longest_match"][mask].max())
        if name == "reference":
            members = np.flatnonzero(in_b)
        else:
            members = rng.permutation(np.flatnonzero(mask))[:n_b]
        # the floor: as many sequences of reference half B, against half A
        floor = rng.permutation(np.flatnonzero(in_b))[: len(members)]
        for k in KS:
            row[f"js{k}_pooled"] = js_divergence(spec[k][members].sum(0), pool_a[0][k])
        row["js6_floor"] = js_divergence(spec[6][floor].sum(0), pool_a[0][6])
        row["js6_ratio"] = row["js6_pooled"] / row["js6_floor"] if row["js6_floor"] > 0 else float("nan")
        other = [seqs[i] for i in np.flatnonzero(in_a)] if name == "reference" else ref_seqs
        auc, sd = discriminator_auroc(other, [seqs[i] for i in (np.flatnonzero(in_b) if name == "reference"
                                                                else np.flatnonzero(mask))],
                                      args.disc_k, args.folds, args.seed)
        row["discriminator_auroc"], row["discriminator_sd"] = auc, sd
        for key in [k for k in table if k.startswith("pass_")] + ["viable"]:
            row[key] = float(table[key][mask].mean())
        if validation is not None:
            row["viability_score"] = float(table["viability_score"][mask].mean())
            row["score_viable"] = float(table["score_viable"][mask].mean())
        summary.append(row)

    out = Path(args.out)
    write_outputs(out, names, ids, table, genes, summary, limits, args, window)
    figures.viability_spectra(spec[6], names, in_a, in_b, summary, out / "kmer_spectra.png")
    figures.viability_gene_maps(names, ids, seqs, genes, args.gene_maps, out / "gene_maps.png")
    figures.viability_distributions(table, names, limits, out / "distributions.png")
    if validation is not None:
        write_validation(out, validation)
    return {"summary": summary, "thresholds": limits, "window": window, "validation": validation}


def whole_genome_score(args: ViabilityArgs, seqs: list[str], table: dict, progress: bool) -> dict:
    """The viability score of every sequence (``genolm.generation.viability_score``), fitted on a
    validation set of the --reference genomes (viable) and damaged copies of them; adds the score,
    its verdict and its components to ``table`` and returns what the validation measured."""
    from genolm.generation.funnel import Reference, read_genomes
    from genolm.generation.viability_score import Context, ViabilityScore, components, validation_set
    from genolm.model.markov import MarkovModel

    reference = Reference.load(args.genome, args.annotation)
    natural = [g for path in args.train for g in read_genomes(path)[1]]
    held_out = [g for path in args.reference for g in read_genomes(path)[1]]
    if len(held_out) < 4:
        raise GenolmError("--score needs at least 4 whole natural genomes in --reference", found=str(len(held_out)))
    model = None
    if args.model:
        from genolm.train.checkpoint import load_model

        device = resolve_device(args.device)
        m, tok, _ = load_model(args.model, device)
        model = (m, tok, device)
    ctx = Context(reference, natural, MarkovModel(args.markov_order).fit(natural, unknown="n"), model, args.batch_size)
    rng = np.random.default_rng(args.seed)
    others = [_unrelated(rng, max(map(len, held_out)))]
    v = validation_set(held_out, reference, rng, others=others, copies=args.damage_copies)
    with progress_bar(len(v["seqs"]) + len(seqs), "viability: score", "genome", enabled=progress) as bar:
        comp_val = components(v["seqs"], ctx, bar.update)
        comp = components(seqs, ctx, bar.update)
    score = ViabilityScore.fit(comp_val, np.array(v["viable"]), v["kind"], np.array(v["group"]), folds=4,
                               seed=args.seed)
    score.markov_order = args.markov_order
    table["viability_score"] = score.score(comp)
    table["score_viable"] = table["viability_score"] >= score.threshold
    for k, values in comp.items():
        table[f"score_{k}"] = values
    return {"model": score, **score.validation}


def _unrelated(rng: np.random.Generator, n: int) -> str:
    """A stand-in for an unrelated phage in chimeras: random bases at 45% GC."""
    return "".join(rng.choice(list("ACGT"), n, p=[0.275, 0.225, 0.225, 0.275]))


def write_validation(out: Path, validation: dict) -> None:
    """viability_score.json (the fitted score) and validation.tsv (AUROC per damage type)."""
    from genolm.io.atomic import atomic_file

    with atomic_file(out / "viability_score.json") as tmp:
        Path(tmp).write_text(validation["model"].to_json() + "\n")
    names = list(validation["components"])
    with atomic_file(out / "validation.tsv") as tmp, open(tmp, "w") as f:
        f.write("damage\tcombined\t" + "\t".join(names) + "\n")
        for k in validation["combined"]:
            f.write(f"{k}\t{validation['combined'][k]:.4f}\t"
                    + "\t".join(f"{validation['components'][n][k]:.4f}" for n in names) + "\n")


def memorisation(train: list[str], seqs: list[str], progress: bool) -> dict[str, np.ndarray]:
    from genolm.bio.match_index import MatchIndex
    from genolm.io.seqio import read_records

    corpus = []
    for path in train:
        corpus.extend(r.seq for r in read_records(path, case="upper"))
    index = MatchIndex.build(corpus, k=31)
    del corpus
    bar = progress_bar(len(seqs), "viability: matches", "seq", enabled=progress)
    longest, shared = [], []
    for s in seqs:
        longest.append(index.longest_match(s).length)
        shared.append(index.shared_fraction(s))
        bar.update(1)
    bar.close()
    return {"longest_match": np.asarray(longest), "shared_31mers": np.asarray(shared)}


def write_outputs(out: Path, names, ids, table, genes, summary, limits, args, window: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genolm.io.atomic import atomic_file, json_safe

    out.mkdir(parents=True, exist_ok=True)
    cols = {"set": names, "id": ids} | {k: v for k, v in table.items()}
    with atomic_file(out / "sequences.parquet") as tmp:
        pq.write_table(pa.table(cols), tmp)
    g = {"set": [], "id": [], "start": [], "end": [], "strand": [], "length_aa": [], "partial": [], "score": []}
    for name, rid, gs in zip(names, ids, genes):
        for x in gs:
            for key, v in (("set", name), ("id", rid), ("start", x.start), ("end", x.end), ("strand", x.strand),
                           ("length_aa", x.length_aa), ("partial", x.partial), ("score", x.score)):
                g[key].append(v)
    with atomic_file(out / "genes.parquet") as tmp:
        pq.write_table(pa.table(g), tmp)
    keys = list(dict.fromkeys(k for row in summary for k in row))
    with atomic_file(out / "summary.tsv") as tmp, open(tmp, "w") as f:
        f.write("\t".join(keys) + "\n")
        for row in summary:
            f.write("\t".join(cell(row.get(k)) for k in keys) + "\n")
    meta = {"window": window, "coverage": args.coverage, "max_match": args.max_match if args.train else None,
            "markov_order": args.markov_order, "disc_k": args.disc_k, "folds": args.folds, "seed": args.seed,
            "reference": list(args.reference), "train": list(args.train), "sets": list(args.seqs),
            "thresholds": limits, "summary": summary}
    with atomic_file(out / "summary.json") as tmp, open(tmp, "w") as f:
        json.dump(json_safe(meta), f, indent=1, allow_nan=False)


# ----------------------------------------------------------------------------- plots


def cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)
