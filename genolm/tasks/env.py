"""Sequence → environment: learn a sample's conditions (temperature, salinity, depth layer, …)
from its sequences, and predict them for new sequences.

``genolm env fit`` joins each sequence to its sample in a sample sheet (by file, or with
``--id-pattern`` by its record id, e.g. Tara contigs ``46SUR1…`` → sample ``S46SUR``), turns each
sequence into a vector (the language-model embedding with ``--model``, mean-pooled over both
strands; otherwise its k-mer composition), and for every ``--target`` column of the sheet fits a
ridge regression (numeric columns) or a logistic regression (text columns, e.g. a depth layer).

``--permutations N`` adds a permutation test of the sequence features: the samples' values are
shuffled among the samples N times and scored with the same folds (p-value in metrics.json).

It is scored by cross-validation that holds out whole sites (``--group``, default the sheet's
``station`` column, else the sample): contigs of one sample share its environment exactly, and a
split by sequence would put the answer on both sides.  In the same run: the training mean (or
majority class), the k-mer composition (when ``--model`` is given), and, where the sheet has
latitude and longitude, geography alone and geography + the sequence features.  Per-sequence
predictions are averaged per sample, with their spread as the uncertainty.

Writes to --out (atomically): ``metrics.json`` (R² or balanced accuracy per target and feature
set, pooled over the held-out predictions, with the per-fold spread), ``predictions.tsv``
(held-out prediction per sequence), ``samples.tsv`` (per sample: measured, predicted mean and
sd, sequences; latitude, longitude and date where the sheet has them),
``measured_vs_predicted.png``, and the models fitted on everything (``model.npz``, plain arrays,
and ``fit.json``) for ``genolm env predict``.

Example:
  python data/tara_sheet.py --out tara                # the Tara sheet, contigs placed by id
  genolm env fit --samples tara/samples.tsv --id-pattern '^(?P<station>\\d+)(?P<layer>[A-Z]{3})\\d' \\
      --id-pattern '^TARA_(?P<station>\\d+)_(?P<layer>[A-Z]{3})_' --sample-template 'S{station}{layer}' \\
      --alias SRF=SUR --target temperature_c --target layer --out env_fit
  genolm env predict new_contigs.fasta --fit env_fit --out predictions.tsv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.progress import plural, progress as progress_bar
from genolm.report import figures
from genolm.tasks.options import add_device, add_no_progress, add_seed

HELP = "ocean samples: predict conditions from sequences; condition a model on them; explain by condition"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from genolm.report import add_report_argument
    from genolm.tasks import env_condition

    sub = p.add_subparsers(dest="env_command", metavar="{fit,predict,condition,explain}", required=True)
    f = sub.add_parser("fit", help="fit and score models of the sheet's conditions from sequences",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("inputs", nargs="*", metavar="INPUT", help="FASTA/FASTQ (default: the sheet's files)")
    f.add_argument("--samples", required=True, help="sample sheet (sample_id, path, conditions with units)")
    f.add_argument("--target", action="append", required=True, help="sheet column to learn (repeatable)")
    _feature_args(f)
    _join_args(f)
    f.add_argument("--group", default=None,
                   help="sheet column held out together (default: station if the sheet has it, else the sample)")
    f.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    f.add_argument("--permutations", type=int, default=0,
                   help="permutation test of the sequence features: shuffle the samples' values N times")
    add_seed(f, "folds and permutations")
    f.add_argument("--out", required=True, help="output directory (replaced atomically)")
    add_no_progress(f)
    add_report_argument(f)
    q = sub.add_parser("predict", help="predict conditions of new sequences with a fitted model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ")
    q.add_argument("--fit", required=True, help="output directory of genolm env fit")
    q.add_argument("--out", required=True, help="output TSV: id, then one column per target")
    add_device(q, "embeddings")
    add_no_progress(q)
    c = sub.add_parser("condition", help="train a language model conditioned on the sheet's conditions; "
                       "held-out permutation test", description=env_condition.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    env_condition.add_condition_arguments(c)
    _join_args(c)
    add_report_argument(c)
    e = sub.add_parser("explain", help="likelihood of sequences under each condition of a conditioned model",
                       description=env_condition.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env_condition.add_explain_arguments(e)


def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="genolm run or HF folder: embedding features (else k-mers)")
    p.add_argument("--k", type=int, default=4, help="k-mer length of the composition features (default: 4)")
    add_device(p, "embeddings")


def _join_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id-pattern", action="append", default=None, metavar="REGEX",
                   help="place sequences at samples by their ids: a regex with named groups (repeatable)")
    p.add_argument("--sample-template", default="{sample}",
                   help="sample_id made from the pattern's groups (default: {sample})")
    p.add_argument("--alias", action="append", default=[], metavar="FROM=TO",
                   help="rename a group value before the template, e.g. SRF=SUR (repeatable)")


def setup(args: argparse.Namespace) -> int:
    if args.env_command == "fit":
        summary = fit(args)
        print(f"{args.out}: {plural(summary['sequences'], 'sequence')} at {plural(summary['samples'], 'sample')}, "
              f"{args.folds} folds by {summary['group']}, features {summary['features']}")
        print(f"{'target':24s} {'features':18s} {'n':>6s} {'metric':>8s} {'score':>7s} {'fold sd':>7s}")
        for target, sets in summary["metrics"].items():
            for name, m in sets.items():
                p = f"  p = {m['p_value']:.3g} ({m['permutations']} shuffles)" if "p_value" in m else ""
                print(f"{target:24s} {name:18s} {m['n']:6d} {m['metric']:>8s} {m['score']:7.3f} {m['sd']:7.3f}{p}")
        return 0
    if args.env_command == "condition":
        from genolm.tasks.env_condition import condition

        m = condition(args)
        h, t = m["held_out"], m["train"]
        print(f"{args.out}: trained on {plural(t['sequences'], 'sequence')} ({plural(t['samples'], 'sample')}, "
              f"{t['steps']} steps, {t['seconds']:.0f} s); held out {plural(h['sequences'], 'sequence')} of "
              f"{plural(h['samples'], 'sample')} "
              f"at {h['groups']} {m['group']} values")
        print(f"{'conditions':24s} {'true bpb':>9s} {'shuffled':>9s} {'gain b/kb':>9s} {'beats':>6s} {'p':>8s}")
        rows = [("all: " + ",".join(m["conditions"]), m)] + list(m["per_condition"].items())
        for name, r in rows:
            print(f"{name:24s} {r['true_bpb']:9.4f} {r['shuffled_bpb']:9.4f} {r['gain_bits_per_kb']:9.2f} "
                  f"{r['own_condition_beats']:6.2f} {r['p_value']:8.3g}")
        print(f"{'unknown (unconditional)':24s} {m['unknown_bpb']:9.4f}")
        if m["in_sample"]:
            r = m["in_sample"]
            print(f"in sample ({r['samples']} training samples): true {r['true_bpb']:.4f}, shuffled "
                  f"{r['shuffled_bpb']:.4f}, gain {r['gain_bits_per_kb']:.2f} bits/kb, p = {r['p_value']:.3g}")
        for name, r in m["per_condition"].items():
            q = r["predicted"]
            base = (f" (training mean {q['per_sequence']['mean_baseline']:.3f} / {q['per_sample']['mean_baseline']:.3f})"
                    if "mean_baseline" in q["per_sequence"] else "")
            print(f"as a predictor of {name}: {q['per_sequence']['metric']} {q['per_sequence']['score']:.3f} "
                  f"per sequence, {q['per_sample']['score']:.3f} per sample{base}")
        return 0
    if args.env_command == "explain":
        from genolm.tasks.env_condition import explain

        summary = explain(args)
        print(f"{args.out}: {plural(summary['sequences'], 'sequence')} x {plural(summary['sets'], 'condition set')} "
              f"({summary['strand']} strand{'s' if summary['strand'] == 'both' else ''})")
        return 0
    summary = predict(args)
    print(f"{args.out}: {plural(summary['sequences'], 'sequence')}, targets {', '.join(summary['targets'])}")
    return 0


# ---- joining sequences to samples --------------------------------------------------------------

def read_sequences(paths: list[str]) -> tuple[list[str], list[str], list[str]]:
    """ids, source file, sequence (upper case) of every record of ``paths``."""
    from genolm.io.seqio import read_records

    ids, files, seqs = [], [], []
    for p in paths:
        if not Path(p).is_file():
            raise GenolmError("no such input file", file=p)
        for r in read_records(p, case="upper", unique_ids=False):
            ids.append(r.id)
            files.append(str(p))
            seqs.append(r.seq)
    if not seqs:
        raise GenolmError("no sequences in the input", file=paths[0] if paths else None)
    return ids, files, seqs


def place(args, sheet, ids: list[str], files: list[str]) -> list[str | None]:
    """The sample of every sequence (None: not placed), by id pattern or by file."""
    from genolm.io.samples import IdJoin

    if args.id_pattern:
        aliases = {}
        for a in args.alias:
            src, sep, dst = a.partition("=")
            if not sep or not src:
                raise GenolmError("bad --alias", expected="FROM=TO", found=repr(a))
            aliases[src] = dst
        join = IdJoin(args.id_pattern, args.sample_template, aliases)
        try:
            return [s if s in sheet.samples else None for s in map(join.sample_of, ids)]
        except (KeyError, IndexError) as e:
            raise GenolmError("--sample-template names a group the patterns do not have", found=str(e)) from None
    by_file = {f: sheet.sample_for(f) for f in set(files)}
    return [by_file[f] for f in files]


def sheet_and_sequences(args, columns: list[str], what: str):
    """The sample sheet (``columns`` checked), the column held out together (``--group``, default
    station, else the sample), and the inputs (default: the sheet's files) placed at samples:
    (sheet, group, ids, files, sequences, sample of each sequence or None)."""
    from genolm.io.samples import read_sample_sheet

    sheet = read_sample_sheet(args.samples)
    for c in columns:
        if c not in sheet.columns or c in ("sample_id", "path"):
            raise GenolmError(f"no {what} column {c!r} in the sample sheet", file=args.samples, line=1,
                              expected="one of " + ", ".join(h for h in sheet.columns if h not in ("sample_id", "path")))
    group = args.group or ("station" if "station" in sheet.columns else "sample_id")
    if group != "sample_id" and group not in sheet.columns:
        raise GenolmError(f"no group column {group!r} in the sample sheet", file=args.samples, line=1)
    ids, files, seqs = read_sequences(args.inputs or sorted({str(p) for p in sheet.paths.values()}))
    return sheet, group, ids, files, seqs, place(args, sheet, ids, files)


def sequence_features(seqs: list[str], model: str | None, k: int, device: str, progress: bool) -> np.ndarray:
    from genolm.bio.kmers import clr, kmer_profiles

    if not model:
        return clr(kmer_profiles(seqs, k, unknown="n")).astype(np.float32)
    from genolm.tasks.embedding import Embedder

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


def fit(args: argparse.Namespace) -> dict:
    from genolm.io.atomic import atomic_dir
    from genolm.tasks.env_eval import cv_classification, cv_regression, group_folds, permutation_test

    t0 = time.perf_counter()
    if args.folds < 2:
        raise GenolmError("--folds must be at least 2", found=str(args.folds))
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

    from genolm.tasks.env_eval import ALPHAS

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

def predict(args: argparse.Namespace) -> dict:
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
