"""Sequence -> environment: learn a sample's conditions (temperature, depth layer, ...) from its
sequences' features (embeddings or k-mer composition), scored by cross-validation that holds out
whole sites, beside the baselines (training mean, composition, geography); and predict them for
new sequences.  The commands are ``genolm env fit`` and ``genolm env predict``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.environment.sheet import JoinArgs, read_sequences, sheet_and_sequences
from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress as progress_bar
from genolm.report import figures

# ---- joining sequences to samples --------------------------------------------------------------


@dataclass(kw_only=True)
class FitArgs(JoinArgs):
    """Options of ``genolm env fit`` (see its --help)."""

    target: list[str]
    model: str | None = None
    k: int = 4
    folds: int = 5
    permutations: int = 0

    def check(self) -> None:
        if not self.samples:
            raise GenolmError("env fit needs a sample sheet", hint="give --samples SHEET")
        self.at_least("folds", 2)
        self.at_least("k", 1)
        self.at_least("permutations", 0)


@dataclass(kw_only=True)
class PredictArgs(CommandArgs):
    """Options of ``genolm env predict`` (see its --help)."""

    inputs: list[str]
    fit: str


def sequence_features(seqs: list[str], model: str | None, k: int, device: str, progress: bool) -> np.ndarray:
    from genolm.bio.kmers import clr, kmer_profiles

    if not model:
        return clr(kmer_profiles(seqs, k, unknown="n")).astype(np.float32)
    from genolm.infer.embedding import Embedder

    emb = Embedder.load(model, device)
    with progress_bar(len(seqs), "env: embed", "seq", enabled=progress) as bar:
        return emb.embed(seqs, pool="mean", strand="both", progress=bar.update)


# ---- fit ---------------------------------------------------------------------------------------

def _latlon(sheet, samples: list[str]) -> np.ndarray | None:
    lat = [sheet.samples[s].get("latitude") for s in samples]
    lon = [sheet.samples[s].get("longitude") for s in samples]
    if any(v is None for v in lat + lon):
        return None
    lat, lon = np.asarray(lat, float), np.radians(np.asarray(lon, float))
    return np.c_[lat, np.abs(lat), np.sin(lon), np.cos(lon)]


def fit(args: FitArgs) -> dict:
    from genolm.environment.evaluation import cv_classification, cv_regression, group_folds, permutation_test
    from genolm.io.atomic import atomic_dir

    t0 = time.perf_counter()
    sheet, group, ids, files, seqs, sample = sheet_and_sequences(args, args.target, "target")
    unplaced = [i for i, s in zip(ids, sample) if s is None]
    if len(unplaced) == len(ids):
        raise GenolmError("no sequence could be placed at a sample of the sheet", record=ids[0],
                          hint="check --id-pattern / --sample-template, or the sheet's paths")
    keep = [i for i, s in enumerate(sample) if s is not None]
    x_all = sequence_features([seqs[i] for i in keep], args.model, args.k, args.device, not args.no_progress)
    kmer_all = sequence_features([seqs[i] for i in keep], None, args.k, "cpu", False) if args.model else None
    ids_k, samp_k = [ids[i] for i in keep], [sample[i] for i in keep]
    main_name = "genolm" if args.model else f"{args.k}-mer"
    metrics, predictions, per_sample, arrays, kinds = {}, [], [], {}, {}
    for target in args.target:
        values = [sheet.samples[s].get(target) for s in samp_k]
        rows = np.array([i for i, v in enumerate(values) if v is not None])
        if len(rows) == 0:
            raise GenolmError(f"no placed sequence has a value of {target!r}", file=args.samples)
        y_raw = [values[i] for i in rows]
        numeric = all(isinstance(v, float) for v in y_raw)
        kinds[target] = "regression" if numeric else "classification"
        y = np.asarray(y_raw, float) if numeric else np.asarray([str(v) for v in y_raw])
        if not numeric and len(set(y.tolist())) < 2:
            raise GenolmError(f"target {target!r} has one class only", found=str(y[0]), file=args.samples)
        samples_t = [samp_k[i] for i in rows]
        groups = [sheet.samples[s].get(group) if group != "sample_id" else s for s in samples_t]
        groups = [g if g is not None else s for g, s in zip(groups, samples_t)]
        folds = group_folds(groups, args.folds, args.seed)
        sets = {"mean": None, main_name: x_all[rows]}
        if kmer_all is not None:
            sets[f"{args.k}-mer"] = kmer_all[rows]
        ll = _latlon(sheet, samples_t)
        if ll is not None:
            sets["latlon"] = ll
            sets[f"latlon+{main_name}"] = np.c_[ll, x_all[rows]]
        metrics[target] = {}
        for name, x in sets.items():
            if numeric:
                r = cv_regression(x, y, folds)
                metrics[target][name] = {"metric": "R2", "score": r["r2"], "sd": r["r2_sd"], "folds": r["r2_folds"],
                                         "n": len(rows)}
            else:
                r = cv_classification(x, y, folds)
                metrics[target][name] = {"metric": "bal.acc", "score": r["bacc"], "sd": r["bacc_sd"],
                                         "folds": r["bacc_folds"], "n": len(rows)}
            if name == main_name:
                oof = r["pred"]
                if args.permutations > 0:
                    metrics[target][name].update(permutation_test(
                        x, y, samples_t, folds, args.permutations, args.seed, classification=not numeric))
        for i, row in enumerate(rows):
            predictions.append((ids_k[row], samp_k[row], target, y[i], oof[i]))
        per_sample.extend(_per_sample(target, samples_t, y, oof, numeric))
        arrays.update(_final_model(target, x_all[rows], y, numeric))
    with atomic_dir(args.out, replaceable=lambda p: (p / "fit.json").is_file()) as tmp:
        with open(tmp / "predictions.tsv", "w") as f:
            f.write("id\tsample_id\ttarget\tmeasured\tpredicted\n")
            for row in predictions:
                f.write("\t".join(_fmt(v) for v in row) + "\n")
        with open(tmp / "samples.tsv", "w") as f:  # where and when, too: genolm report maps them
            f.write("sample_id\ttarget\tmeasured\tpredicted\tsd\tsequences\tlatitude\tlongitude\tdate\n")
            for row in per_sample:
                info = sheet.samples.get(row[0], {})
                place = [info.get("latitude"), info.get("longitude"), info.get("date")]
                f.write("\t".join(_fmt(v) for v in row) + "\t" + "\t".join("" if v is None else _fmt(v) for v in place)
                        + "\n")
        np.savez(tmp / "model.npz", **arrays)
        (tmp / "fit.json").write_text(json.dumps({
            "command": "env fit", "model": args.model, "k": args.k, "targets": kinds, "group": group,
            "folds": args.folds, "seed": args.seed, "samples": args.samples}, indent=1) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        figures.env_measured_vs_predicted(per_sample, metrics, main_name, tmp / "measured_vs_predicted.png")
        figures.env_map_and_time(sheet, per_sample, metrics, tmp)
    return {"sequences": len(keep), "unplaced": len(unplaced), "samples": len(set(samp_k)), "group": group,
            "features": main_name, "metrics": metrics, "seconds": round(time.perf_counter() - t0, 2)}


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def _per_sample(target, samples, y, pred, numeric):
    out = []
    for s in dict.fromkeys(samples):
        idx = [i for i, x in enumerate(samples) if x == s]
        if numeric:
            p = pred[idx].astype(float)
            out.append((s, target, y[idx[0]], float(p.mean()), float(p.std()), len(idx)))
        else:
            values, counts = np.unique(pred[idx], return_counts=True)
            out.append((s, target, y[idx[0]], values[np.argmax(counts)], float(1 - counts.max() / len(idx)), len(idx)))
    return out


def _final_model(target: str, x: np.ndarray, y: np.ndarray, numeric: bool) -> dict[str, np.ndarray]:
    """The model fitted on every row, as plain arrays: scaling, weights, intercept (and classes)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    from genolm.environment.evaluation import ALPHAS

    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    out = {f"{target}/mean": scaler.mean_, f"{target}/scale": scaler.scale_}
    if numeric:
        m = RidgeCV(alphas=ALPHAS).fit(z, y)
        out.update({f"{target}/coef": np.atleast_2d(m.coef_), f"{target}/intercept": np.atleast_1d(m.intercept_)})
    else:
        m = LogisticRegression(max_iter=2000, class_weight="balanced").fit(z, y)
        out.update({f"{target}/coef": m.coef_, f"{target}/intercept": m.intercept_,
                    f"{target}/classes": m.classes_.astype(str)})
    return out


# ---- predict -----------------------------------------------------------------------------------

def predict(args: PredictArgs) -> dict:
    from genolm.io.atomic import atomic_file

    fit_dir = Path(args.fit)
    try:
        meta = json.loads((fit_dir / "fit.json").read_text())
        arrays = dict(np.load(fit_dir / "model.npz", allow_pickle=False))
    except FileNotFoundError:
        raise GenolmError("not a genolm env fit directory", file=fit_dir,
                          expected="fit.json and model.npz", hint="run genolm env fit first") from None
    ids, _, seqs = read_sequences(args.inputs)
    x = sequence_features(seqs, meta["model"], meta["k"], args.device, not args.no_progress)
    columns = {}
    for target, kind in meta["targets"].items():
        mean, scale = arrays[f"{target}/mean"], arrays[f"{target}/scale"]
        if x.shape[1] != len(mean):
            raise GenolmError("features do not match the fitted model", found=f"{x.shape[1]} dimensions",
                              expected=f"{len(mean)}")
        score = ((x - mean) / scale) @ arrays[f"{target}/coef"].T + arrays[f"{target}/intercept"]
        if kind == "regression":
            columns[target] = [f"{v:.6g}" for v in score[:, 0]]
        else:
            classes = arrays[f"{target}/classes"]
            best = (score[:, 0] > 0).astype(int) if len(classes) == 2 else score.argmax(1)
            columns[target] = [str(classes[b]) for b in best]
    with atomic_file(Path(args.out)) as tmp:
        with open(tmp, "w") as f:
            f.write("id\t" + "\t".join(columns) + "\n")
            for i, row in enumerate(zip(*columns.values())):
                f.write(ids[i] + "\t" + "\t".join(row) + "\n")
    return {"sequences": len(ids), "targets": list(columns)}
