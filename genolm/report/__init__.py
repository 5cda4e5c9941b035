"""One self-contained HTML page from what genolm commands leave behind: a section per output,
each with a plain-language summary sentence, its plots and its key tables.

The commands write data (JSON, JSONL, TSV, Parquet); this module reads it and draws.  Interactive
plots (zoom, hover) are Plotly figures, whose JavaScript bundle is inlined once, so the page needs
no network; pictures a command already drew are inlined as PNG.  :func:`discover` tells what each
path is (a pretrain run, a fine-tuning, a bin, viability or evolve folder, a generated FASTA, ...); :func:`render`
writes the page.

>>> kind_of(Path("no/such/place")) is None
True
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.atomic import json_safe
from genolm.io.stamp import read_stamp

MAP_POINTS = 10_000  # most points an interactive sequence map draws
GENERATED_MAX = 20_000  # generated sequences a report reads
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]


@dataclass
class Section:
    """One output's part of the page."""

    title: str
    kind: str
    path: str
    summary: str
    figures: list = field(default_factory=list)  # ("plotly", figure dict) | ("png", path) | ("note", text)
    tables: list = field(default_factory=list)  # (caption, header list, rows list)


def add_report_argument(p) -> None:
    """``--report HTML`` on a command whose ``--out`` this module can draw (see genolm.cli)."""
    p.add_argument("--report", metavar="HTML", help="also write an HTML page of the output (genolm report)")


# ----------------------------------------------------------------------------- reading


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise GenolmError(f"cannot read this JSON ({err})", file=str(path)) from None


def _jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise GenolmError("bad JSON line", file=str(path), line=n) from None
    return rows


def _tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    if not lines:
        return [], []
    return lines[0].split("\t"), [ln.split("\t") for ln in lines[1:] if ln]


# the header genolm generate writes: ">gen_1 seed=0 temperature=1.0 prompt=0" (min_p=… before prompt= when given)
GENERATED = re.compile(r"^>\S+ seed=-?\d+ temperature=\S+( min_p=\S+)? prompt=\d+$")
FASTA_SUFFIXES = (".fasta", ".fa", ".fna", ".ffn")


def _is_fasta_name(p: Path) -> bool:
    from genolm.io.compression import SUFFIX, compression_for_name

    name = p.name.lower()
    kind = compression_for_name(name)
    return name[: len(name) - len(SUFFIX[kind]) if kind else None].endswith(FASTA_SUFFIXES)


def _first_line(p: Path) -> str:
    """The file's first line, decompressed as genolm's readers do (gz, bz2, xz, zstd: sniffed)."""
    from genolm.io.compression import open_binary

    try:
        with open_binary(p) as f:
            return f.readline(4096).decode().rstrip("\r\n")
    except (OSError, UnicodeDecodeError, GenolmError):
        return ""


# a folder's stamp (genolm.json) -> what the page draws of it; commands not here draw nothing
STAMPED = {"pretrain": "pretrain", "finetune": "finetune", "bench": "bench", "bin": "bin", "env fit": "env fit",
           "env condition": "env condition", "evolve": "evolve", "viability": "viability", "design": "design"}


def kind_of(path: Path) -> str | None:
    """What genolm output ``path`` is, from the stamp the command left (genolm.json) or, for
    files and for folders written before stamps, from what the folder holds."""
    p = Path(path)
    stamp = read_stamp(p) if p.is_dir() else None
    if stamp is not None:
        kind = STAMPED.get(stamp["command"])
        if kind == "evolve" and stamp["args"].get("backtest"):
            return "backtest"
        return kind
    if p.is_dir():
        if (p / "finetune.json").is_file():
            return "finetune"
        if (p / "results.tsv").is_file() and (p / "run.json").is_file():
            return "bench"
        if (p / "forecast.json").is_file():
            return "evolve"
        if (p / "funnel.tsv").is_file() and (p / "designs.parquet").is_file():
            return "design"
        if (p / "summary.json").is_file():
            s = _json(p / "summary.json")
            if isinstance(s, dict) and s.get("command") == "bin":
                return "bin"
            if isinstance(s, dict) and "thresholds" in s:
                return "viability"
            if isinstance(s, dict) and isinstance(s.get("seasons"), list):
                return "backtest"
        if (p / "fit.json").is_file():
            return "env fit"
        if (p / "held_out.npz").is_file():
            return "env condition"
        if (p / "metrics.jsonl").is_file() and (p / "checkpoint" / "config.json").is_file():
            return "pretrain"
        return None
    if p.is_file() and p.suffix == ".tsv":
        with open(p) as f:
            head = f.readline().rstrip("\n")
        if head.startswith("model\tparams\ttokens_seen\ttrain_s\tval_bpb"):
            return "evaluate"
        if head == "id\tlength\tgenome\ttaxon\tscore":
            return "classify"
    if p.is_file() and _is_fasta_name(p) and GENERATED.match(_first_line(p)):
        return "generate"
    if p.is_file() and p.suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(p).metadata or {}
        if b"genolm_embed" in meta:
            return "embed"
        if b"genolm" in meta:
            return "score"
    return None


def discover(paths: list[str]) -> list[tuple[str, Path]]:
    """(kind, path) of every genolm output in ``paths`` (a folder holding several outputs, such
    as a bench folder's fine-tunings, counts as itself; an unknown folder is searched one level
    down)."""
    found = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise GenolmError("no such file or folder", file=str(p))
        kind = kind_of(p)
        if kind:
            found.append((kind, p))
            continue
        inner = [(kind_of(q), q) for q in sorted(p.iterdir()) if not q.name.startswith(".")] if p.is_dir() else []
        inner = [(k, q) for k, q in inner if k]
        if not inner:
            raise GenolmError("not a genolm output", file=str(p),
                              expected="a folder or file written by a genolm command (pretrain, finetune, bench, "
                                       "bin, classify, env, evolve, viability, embed, score, evaluate, "
                                       "generate)")
        found.extend(inner)
    return found


# ----------------------------------------------------------------------------- figures


def _line(xs, ys, name, color, dash=None, axis="y"):
    trace = {"type": "scatter", "mode": "lines+markers" if len(xs) < 40 else "lines", "x": list(xs),
             "y": [None if (y is None or (isinstance(y, float) and not math.isfinite(y))) else y for y in ys],
             "name": name, "line": {"color": color}, "yaxis": axis}
    if dash:
        trace["line"]["dash"] = dash
    return trace


def _layout(title, xlabel, ylabel, **kw):
    out = {"title": {"text": title, "font": {"size": 14}}, "xaxis": {"title": {"text": xlabel}},
           "yaxis": {"title": {"text": ylabel}}, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
           "height": 360, "legend": {"orientation": "h", "y": -0.25}, "template": None}
    out.update(kw)
    return out


# what a table says for a column or key genolm writes; names not here are shown as they are
LABELS = {"params": "parameters", "tokens_seen": "tokens seen", "train_s": "training time (s)",
          "val_bpb": "validation bits per base", "scored_tokens": "scored tokens", "eval_s": "evaluation time (s)",
          "tokens_per_s": "tokens per second", "dnabert2": "DNABERT-2", "nt_2500m_multi": "NT 2.5B multi",
          "best_published": "best published", "seconds": "time (s)", "mcc": "MCC", "auroc": "AUROC", "r2": "R²",
          "ari": "adjusted Rand index", "ami": "adjusted mutual information", "f1": "F1", "n_bins": "bins",
          "n_genomes": "genomes", "macro_precision": "macro precision", "macro_recall": "macro recall",
          "macro_f1": "macro F1", "n": "sequences", "gc": "GC content", "coding_density": "coding density",
          "gene_aa": "mean protein length (aa)", "stop_rate": "stop codons per codon",
          "markov_bpb": "Markov bits per base", "js6_ratio": "6-mer JS ratio (to real)",
          "discriminator_auroc": "discriminator AUROC", "longest_match_max": "longest match (max)",
          "pass_novel": "novel", "model_kind": "model kind", "dim": "dimensions"}
MISSING = ("", "-", "None", "none", "nan", "NaN")  # how a TSV or str() spells a missing value


def _label(name) -> str:
    return LABELS.get(name, name) if isinstance(name, str) else str(name)


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, str) and v.strip() in MISSING):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "–"
        return f"{v:,.{digits}f}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def _params(n) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


# ----------------------------------------------------------------------------- sections


def _val_windows(config: dict) -> tuple[int | None, int | None]:
    """How many validation windows the training loop scores (the first eval_batches × batch_size,
    see genolm.train.loop.evaluate), capped by the split where its corpus is still there; and how
    many the split holds (None: unknown)."""
    args = config.get("args") or {}
    manifest = Path(str(config["data"])) / "manifest.json" if config.get("data") else None
    total = _json(manifest).get("splits", {}).get("val", {}).get("windows") if manifest and manifest.is_file() else None
    if not (args.get("eval_batches") and args.get("batch_size")):
        return None, total
    n = args["eval_batches"] * args["batch_size"]
    return (min(n, total) if total else n), total


def pretrain_section(path: Path) -> Section:
    rows = _jsonl(path / "metrics.jsonl")
    config = _json(path / "checkpoint" / "config.json")
    meta = _json(path / "checkpoint" / "meta.json") if (path / "checkpoint" / "meta.json").is_file() else {}
    tok = _json(path / "checkpoint" / "tokenizer.json") if (path / "checkpoint" / "tokenizer.json").is_file() else {}
    # a char token is one base; other tokens hold a varying number, so their loss stays per token
    kind = tok.get("kind")
    unit = "bits per base" if kind == "char" else f"bits per {kind} token" if kind else "bits per token"
    n_val, total = _val_windows(config)
    scope = ("a fixed set of" if n_val is None else f"all {total:,}" if total and n_val >= total
             else f"the first {n_val:,}") + " validation windows"
    train = {r["step"]: r for r in rows if "loss" in r}  # the last line of a step wins (after --resume)
    val = {r["step"]: r for r in rows if "val_bpb" in r}
    model = config.get("model", {})
    family = model.get("family", "transformer")
    objective = config.get("objective", "clm")
    what = f"{'causal' if objective == 'clm' else 'masked'} {family}"
    size = f"{model.get('n_layers', '?')} × {model.get('d_model', '?')}"
    if val:
        last = val[max(val)]
        best = min(v["val_bpb"] for v in val.values())
        summary = (f"genolm trained a {what} ({size}) for {max(train or val):,} steps"
                   f"{' on ' + format(meta['tokens_seen'], ',') + ' tokens' if meta.get('tokens_seen') else ''}; "
                   f"it predicts held-out{' masked' if objective == 'mlm' else ''} bases at {last['val_bpb']:.3f} "
                   f"bits each on {scope} during training (best {best:.3f}; "
                   f"2.000 is a blind guess among A, C, G and T; genolm evaluate scores the whole validation split).")
    elif train:
        summary = f"genolm trained a {what} ({size}) for {max(train):,} steps; no validation was logged."
    else:
        summary = f"genolm set up a {what} ({size}); no training step is in metrics.jsonl yet."
    figs = []
    if train:
        steps = sorted(train)
        traces = [_line(steps, [train[s]["loss"] / math.log(2) for s in steps], f"training loss ({unit})", PALETTE[0])]
        same = unit == "bits per base"  # else two axes: bits per token on the left, per base on the right
        lay = _layout("Training curve", "step", "",
                      yaxis={"title": {"text": unit if same else f"training loss ({unit})"}, "tickformat": ".2f"})
        if val:
            vs = sorted(val)
            traces.append(_line(vs, [val[s]["val_bpb"] for s in vs],
                                f"validation bits per base ({scope.replace(' validation', '')})", PALETTE[1],
                                axis="y" if same else "y2"))
            if not same:
                lay["yaxis2"] = {"title": {"text": "validation bits per base"}, "overlaying": "y", "side": "right",
                                 "tickformat": ".2f"}
                lay["margin"]["r"] = 70
        figs.append(("plotly", {"data": traces, "layout": lay}))
    table_rows = [["model", what], ["layers × width", size], ["window", _fmt(config.get("window"))],
                  ["steps", _fmt(max(train or val, default=None))], ["tokens seen", _fmt(meta.get("tokens_seen"))]]
    if val:
        table_rows += [["validation bits per base (last, during training)", _fmt(val[max(val)]["val_bpb"], 4)],
                       ["validation windows scored during training", scope.replace(" validation", "")]]
    speeds = [r.get("tokens_per_s") for r in train.values() if r.get("tokens_per_s")]
    if speeds:
        table_rows.append(["training speed (tokens/s, median)", _fmt(float(np.median(speeds)), 0)])
    return Section(f"Pretraining: {path.name}", "pretrain", str(path), summary, figs,
                   [("The run", ["", ""], table_rows)])


def finetune_section(path: Path) -> Section:
    m = _json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    spec = _json(path / "finetune.json")
    task = spec.get("task", m.get("task", "classify"))
    mode = spec.get("mode", m.get("mode", "?"))
    if task == "classify":
        key, label = "mcc", "MCC"
    else:
        key, label = "r2", "R²"
    test = m.get(f"test_{key}")
    base = Path(str(spec.get("model", "?"))).name
    summary = (f"genolm fine-tuned {base} ({mode}) to {'classify' if task == 'classify' else 'predict'} "
               f"{m.get('n_train', '?'):,} training sequences" if isinstance(m.get("n_train"), int) else
               f"genolm fine-tuned {base} ({mode})")
    if test is not None:
        summary += f"; on {m.get('n_test', '?')} held-out test sequences it reaches {label} {test:.3f}"
        if task == "classify" and m.get("test_accuracy") is not None:
            summary += f" (accuracy {m['test_accuracy']:.3f})"
    summary += "."
    figs = []
    if (path / "history.jsonl").is_file():
        hist = _jsonl(path / "history.jsonl")
        ep = [h["epoch"] for h in hist]
        traces = [_line(ep, [h.get("train_loss") for h in hist], "training loss", PALETTE[0])]
        if any(f"val_{key}" in h for h in hist):
            traces.append(_line(ep, [h.get(f"val_{key}") for h in hist], f"validation {label}", PALETTE[1], axis="y2"))
        lay = _layout("Fine-tuning, epoch by epoch", "epoch", "training loss")
        lay["yaxis2"] = {"title": {"text": f"validation {label}"}, "overlaying": "y", "side": "right"}
        lay["margin"]["r"] = 70
        figs.append(("plotly", {"data": traces, "layout": lay}))
    if task == "classify" and (path / "predictions.tsv").is_file():
        head, rows = _tsv(path / "predictions.tsv")
        if {"split", "label", "prediction"} <= set(head):
            s, lab, pred = head.index("split"), head.index("label"), head.index("prediction")
            test_rows = [r for r in rows if r[s] == "test"] or rows
            classes = sorted({r[lab] for r in test_rows} | {r[pred] for r in test_rows})
            at = {c: i for i, c in enumerate(classes)}
            cm = np.zeros((len(classes), len(classes)), int)
            for r in test_rows:
                cm[at[r[lab]], at[r[pred]]] += 1
            figs.append(("plotly", {"data": [{"type": "heatmap", "z": cm.tolist(), "x": classes, "y": classes,
                                              "colorscale": "Blues", "reversescale": True, "text": cm.tolist(),
                                              "texttemplate": "%{text}",
                                              "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}],
                                    "layout": _layout("Confusion matrix (test)", "predicted", "true",
                                                      xaxis={"title": {"text": "predicted"}, "type": "category"},
                                                      yaxis={"title": {"text": "true"}, "autorange": "reversed",
                                                             "type": "category"}, height=340)}))
    metric_names = sorted({k[4:] for k in m if k.startswith("val_")} | {k[5:] for k in m if k.startswith("test_")})
    table = [[_label(name), _fmt(m.get(f"val_{name}")), _fmt(m.get(f"test_{name}"))] for name in metric_names]
    return Section(f"Fine-tuning: {path.name}", "finetune", str(path), summary, figs,
                   [("Scores", ["metric", "validation", "test"], table)])


def bench_section(path: Path) -> Section:
    head, rows = _tsv(path / "results.tsv")
    avg = next((r for r in rows if r[0].startswith("average")), None)
    col = {h: i for i, h in enumerate(head)}
    if avg and "genolm" in col:
        summary = f"Across the benchmark's tasks genolm averages {avg[col['genolm']]} (test MCC × 100)"
        if "dnabert2" in col and avg[col["dnabert2"]] not in ("", "-"):
            summary += f"; DNABERT-2's published average on the same tasks is {avg[col['dnabert2']]}"
        summary += "."
    else:
        summary = f"{len(rows)} benchmark tasks."
    tasks = [r for r in rows if not r[0].startswith("average")]
    figs = []
    if tasks and "genolm" in col:
        def num(v):
            try:
                return float(v)
            except ValueError:
                return None

        traces = [{"type": "bar", "name": name, "x": [r[0] for r in tasks], "y": [num(r[col[c]]) for r in tasks],
                   "marker": {"color": PALETTE[i]}}
                  for i, (c, name) in enumerate([("genolm", "genolm"), ("dnabert2", "DNABERT-2"),
                                                 ("nt_2500m_multi", "NT 2.5B multi")]) if c in col]
        figs.append(("plotly", {"data": traces, "layout": _layout("Test MCC × 100 per task", "", "MCC × 100",
                                                                  barmode="group", height=400)}))
    return Section(f"Benchmark: {path.name}", "bench", str(path), summary, figs, [("Results", head, rows)])


def bin_section(path: Path) -> Section:
    s = _json(path / "summary.json")
    metrics = _json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    main = next((k for k in metrics if k != "tnf"), None) or next(iter(metrics), None)
    n_bins = s.get("bins")
    if main and metrics[main].get("ari") is not None:
        m = metrics[main]
        summary = (f"genolm sorted {s.get('sequences', 0):,} sequences into {n_bins} bins; against the truth "
                   f"({m.get('n_genomes', '?')} genomes) the adjusted Rand index is {m['ari']:.2f}")
        if main != "tnf" and "tnf" in metrics and metrics["tnf"].get("ari") is not None:
            summary += f", where the tetranucleotide baseline reaches {metrics['tnf']['ari']:.2f}"
        summary += "."
    else:
        summary = (f"genolm sorted {s.get('sequences', 0):,} sequences into {n_bins} bins "
                   f"({s.get('binned', 0):,} binned); no truth table was given, so there is no score.")
    figs = []
    if (path / "map.tsv").is_file():
        head, rows = _tsv(path / "map.tsv")
        col = {h: i for i, h in enumerate(head)}
        by = "genome" if "genome" in col else "bin"
        shown = ""
        if len(rows) > MAP_POINTS:  # a browser draws tens of thousands of hover points slowly
            keep = np.sort(np.random.default_rng(0).choice(len(rows), MAP_POINTS, replace=False))
            shown = f" ({MAP_POINTS:,} of {len(rows):,} points, drawn at random)"
            rows = [rows[k] for k in keep]
        groups: dict[str, list] = {}
        for r in rows:
            groups.setdefault(r[col[by]], []).append(r)
        traces = [{"type": "scatter", "mode": "markers", "name": g, "x": [float(r[col["x"]]) for r in rs],
                   "y": [float(r[col["y"]]) for r in rs], "text": [f"{r[col['id']]} → {r[col['bin']]}" for r in rs],
                   "hovertemplate": "%{text}<extra>" + html.escape(g) + "</extra>",
                   "marker": {"size": 4, "color": PALETTE[i % len(PALETTE)], "opacity": 0.7}}
                  for i, (g, rs) in enumerate(sorted(groups.items()))]
        figs.append(("plotly", {"data": traces, "layout": _layout(f"Sequence map, coloured by {by}{shown}", "UMAP 1", "UMAP 2",
                                                                   height=460)}))
    elif (path / "map.png").is_file():
        figs.append(("png", path / "map.png"))
    tables = []
    if metrics:
        keys = ["ari", "ami", "precision", "recall", "f1", "n_bins", "n_genomes"]
        tables.append(("Binning scores (rows: features)", ["features"] + keys,
                       [[k] + [_fmt(v.get(x)) for x in keys] for k, v in metrics.items()]))
        genomes = metrics[main].get("genomes") or {}
        if genomes:
            gk = ["bin", "completeness", "contamination", "f1"]
            tables.append((f"Genomes ({main})", ["genome"] + gk,
                           [[g] + [_fmt(v.get(x)) for x in gk] for g, v in genomes.items()]))
    sizes = s.get("bin_sizes") or {}
    if sizes:
        tables.append(("Bin sizes", ["bin", "sequences"], [[b, _fmt(n)] for b, n in sizes.items()]))
    return Section(f"Binning: {path.name}", "bin", str(path), summary, figs, tables)


def viability_section(path: Path) -> Section:
    s = _json(path / "summary.json")
    rows = s.get("summary", [])
    ref = next((r for r in rows if r["set"] == "reference"), {})
    parts = []
    for r in rows:
        if r["set"] == "reference":
            continue
        parts.append(f"{r['viable']:.0%} of '{r['set']}' pass every criterion (real windows: {ref.get('viable', 0):.0%}), "
                     f"and a k-mer classifier tells them from real DNA with AUROC {r['discriminator_auroc']:.2f} "
                     f"(0.5: indistinguishable)")
    summary = "; ".join(parts) + "." if parts else "No generated set."
    figs = []
    if (path / "sequences.parquet").is_file():
        import pyarrow.parquet as pq

        t = pq.read_table(path / "sequences.parquet", columns=["set", "gc", "coding_density"]).to_pydict()
        sets = list(dict.fromkeys(t["set"]))
        traces = []
        for i, name in enumerate(sets):
            idx = [k for k, v in enumerate(t["set"]) if v == name]
            traces.append({"type": "scatter", "mode": "markers", "name": name,
                           "x": [t["gc"][k] for k in idx], "y": [t["coding_density"][k] for k in idx],
                           "marker": {"size": 5, "opacity": 0.6, "color": PALETTE[i % len(PALETTE)]}})
        figs.append(("plotly", {"data": traces, "layout": _layout("Every sequence: GC and coding density", "GC content",
                                                                   "coding density (pyrodigal genes)", height=420)}))
    for png in ("kmer_spectra.png", "distributions.png", "gene_maps.png"):
        if (path / png).is_file():
            figs.append(("png", path / png))
    keys = ["n", "gc", "coding_density", "gene_aa", "stop_rate", "markov_bpb", "js6_ratio", "discriminator_auroc",
            "viable", "longest_match_max", "pass_novel"]
    keys = [k for k in keys if any(k in r for r in rows)]
    table = [[r["set"]] + [_fmt(r.get(k)) for k in keys] for r in rows]
    th = s.get("thresholds", {})
    th_rows = [[k, v["side"], _fmt(v.get("low"), 4), _fmt(v.get("high"), 4)] for k, v in th.items()]
    return Section(f"Viability: {path.name}", "viability", str(path), summary, figs,
                   [("Per set", ["set"] + keys, table), ("Passing ranges (from the real windows)",
                                                         ["criterion", "side", "low", "high"], th_rows)])


def design_section(path: Path) -> Section:
    """genolm design: the funnel, the rank of the survivors, and where the reference's genes lie in
    the best designs."""
    s = _json(path / "summary.json")
    funnel = s.get("funnel", [])
    stopped = max(zip(funnel, [{"passing_so_far": s.get("generated", 0)}] + funnel),
                  key=lambda x: x[1]["passing_so_far"] - x[0]["passing_so_far"], default=None)
    size = (f"a median of {s['median_length']:,.0f} bases, at most {s.get('length', 0):,}" if "median_length" in s
            else f"{s.get('length', 0):,} bases")
    summary = (f"{s.get('generated', 0):,} genomes ({size}) generated; {s.get('passed', 0):,} "
               f"pass every stage of the funnel ({s.get('clusters', 0)} clusters at 99% identity) and "
               f"{s.get('kept', 0)} are kept, best first by {s.get('ranked_by', 'bits_per_base').replace('_', ' ')}.")
    if stopped and stopped[1]["passing_so_far"] > stopped[0]["passing_so_far"]:
        summary += (f" The stage that stops most: {stopped[0]['stage'].replace('_', ' ')} "
                    f"({stopped[1]['passing_so_far'] - stopped[0]['passing_so_far']:,} genomes).")
    figs = []
    if funnel:
        figs.append(("plotly", {"data": [
            {"type": "bar", "x": [f["stage"] for f in funnel], "y": [f["passing_so_far"] for f in funnel],
             "name": "pass it and every stage before", "marker": {"color": PALETTE[0]}},
            {"type": "bar", "x": [f["stage"] for f in funnel], "y": [f["passing"] for f in funnel],
             "name": "pass this stage", "marker": {"color": PALETTE[2], "opacity": 0.5}}],
            "layout": _layout("The funnel", "stage (cheapest first)", "genomes", barmode="group", height=380)}))
    t = {}
    if (path / "designs.parquet").is_file():
        import pyarrow.parquet as pq

        t = pq.read_table(path / "designs.parquet").to_pydict()
        traces = []
        for i, (name, keep) in enumerate((("pass every stage", True), ("fail a stage", False))):
            x = [b for b, ok in zip(t["bits_per_base"], t["passes"]) if ok == keep]
            if x:
                traces.append({"type": "histogram", "x": x, "name": name, "opacity": 0.6, "nbinsx": 40,
                               "marker": {"color": PALETTE[i]}})
        figs.append(("plotly", {"data": traces, "layout": _layout("The design model's bits per base", "bits per base",
                                                                 "genomes", barmode="overlay", height=340)}))
    if (path / "genes.tsv").is_file():
        rows = [r.split("\t") for r in (path / "genes.tsv").read_text().splitlines()[1:]]
        genomes = list(dict.fromkeys(r[0] for r in rows))[:8]
        genes = list(dict.fromkeys(r[1] for r in rows))
        traces = []
        for g, gene in enumerate(genes):
            hits = [r for r in rows if r[1] == gene and r[0] in genomes]
            traces.append({"type": "bar", "orientation": "h", "name": gene, "y": [r[0] for r in hits],
                           "base": [int(r[2]) for r in hits], "x": [int(r[7]) for r in hits],
                           "marker": {"color": PALETTE[g % len(PALETTE)]},
                           "hovertext": [f"{gene}: identity {float(r[4]):.2f}, coverage {float(r[5]):.2f}" for r in hits]})
        if traces:
            figs.append(("plotly", {"data": traces, "layout": _layout(
                "Where the reference's genes lie (every genome turned to the reference's start)", "position (bases)",
                "", barmode="overlay", height=160 + 40 * len(genomes), margin={"l": 130, "r": 20, "t": 40, "b": 50},
                yaxis={"autorange": "reversed", "title": {"text": ""}})}))
    tables = [("The funnel", ["stage", "passing", "passing so far"],
               [[f["stage"], f["passing"], f["passing_so_far"]] for f in funnel])]
    if t:
        kept = sorted((r, i) for i, (r, k) in enumerate(zip(t["rank"], t["kept"])) if k)
        cols = [c for c in ("bits_per_base", "viability_score", "cluster", "identity_reference", "identity_training",
                            "spike_identity") if c in t]
        tables.append(("Kept designs, best first", ["id"] + cols,
                       [[t["id"][i]] + [_fmt(t[c][i]) for c in cols] for _, i in kept]))
    return Section(f"Design: {path.name}", "design", str(path), summary, figs, tables)


def evolve_section(path: Path) -> Section:
    f = _json(path / "forecast.json")
    ev = f.get("evaluation") or {}
    pick = f.get("strain_pick", {}).get("genolm")
    summary = f"Trained on the seasons up to {f.get('until')}, genolm picks {pick} as the strain for {f.get('predict')}"
    if ev:
        sp = ev.get("strain_pick", {})
        mp = ev.get("mutation_pick", {})
        summary += (f"; its pick scores {_fmt(sp.get('genolm'), 2)} (0 = a random candidate, 1 = the best), "
                    f"against {_fmt(sp.get('last 3 months profile'), 2)} for the last-3-months profile. "
                    f"Its top 10 mutations hold {_fmt(mp.get('genolm', {}).get('precision@10'), 2)} of the sweeps' "
                    f"share (last-season frequency: {_fmt(mp.get('last-season frequency', {}).get('precision@10'), 2)})")
    summary += "."
    figs = [("png", path / "landscape.png")] if (path / "landscape.png").is_file() else []
    tables = []
    if ev.get("strain_pick"):
        tables.append(("Strain pick score", ["method", "score"], [[k, _fmt(v)] for k, v in ev["strain_pick"].items()]))
    if ev.get("mutation_pick"):
        tables.append(("Mutation ranking", ["method", "AUROC", "precision@10"],
                       [[k, _fmt(v.get("auroc")), _fmt(v.get("precision@10"))] for k, v in ev["mutation_pick"].items()]))
    if f.get("top_mutations"):
        tables.append(("genolm's top mutations", ["mutation", "genolm score", "last-season frequency"],
                       [[m["mutation"], _fmt(m.get("genolm")), _fmt(m.get("last_frequency"))]
                        for m in f["top_mutations"][:10]]))
    return Section(f"Forecast: {path.name}", "evolve", str(path), summary, figs, tables)


def env_fit_section(path: Path) -> Section:
    metrics = _json(path / "metrics.json")
    parts, tables, figs = [], [], []
    for target, sets in metrics.items():
        main = next((k for k in sets if k not in ("mean", "latlon") and not k.startswith("latlon+")), None)
        if main is None:
            continue
        m = sets[main]
        text = f"from sequence alone ({main}), {target} is predicted at {m['metric']} {m['score']:.2f} on held-out samples"
        if "mean" in sets:
            text += f" (predicting the training mean: {sets['mean']['score']:.2f})"
        if m.get("p_value") is not None:
            text += f", p = {m['p_value']:.3g} by shuffling"
        parts.append(text)
        tables.append((f"{target}: held-out score per feature set", ["features", "metric", "score", "sd"],
                       [[k, v.get("metric"), _fmt(v.get("score")), _fmt(v.get("sd"))] for k, v in sets.items()]))
    summary = ("genolm env fit: " + "; ".join(parts) + ".") if parts else "genolm env fit."
    if (path / "samples.tsv").is_file():
        head, rows = _tsv(path / "samples.tsv")
        col = {h: i for i, h in enumerate(head)}

        def num(v):
            try:
                return float(v)
            except ValueError:
                return None

        for i, target in enumerate(dict.fromkeys(r[col["target"]] for r in rows)):
            rs = [r for r in rows if r[col["target"]] == target and num(r[col["measured"]]) is not None
                  and num(r[col["predicted"]]) is not None]
            if not rs:
                continue
            x, y = [num(r[col["measured"]]) for r in rs], [num(r[col["predicted"]]) for r in rs]
            lo, hi = min(x + y), max(x + y)
            figs.append(("plotly", {"data": [
                {"type": "scatter", "mode": "markers", "x": x, "y": y, "name": "samples",
                 "text": [r[col["sample_id"]] for r in rs], "hovertemplate": "%{text}: measured %{x}, predicted %{y}<extra></extra>",
                 "marker": {"color": PALETTE[i % len(PALETTE)], "size": 7}},
                {"type": "scatter", "mode": "lines", "x": [lo, hi], "y": [lo, hi], "name": "perfect",
                 "line": {"color": "#999", "dash": "dot"}}],
                "layout": _layout(f"{target}: predicted (held out) vs measured, per sample", f"measured {target}",
                                  f"predicted {target}", height=420)}))
            if "latitude" in col and any(r[col["latitude"]] for r in rs):
                placed = [r for r in rs if r[col["latitude"]] and r[col["longitude"]]]
                figs.append(("plotly", {"data": [
                    {"type": "scatter", "mode": "markers", "x": [num(r[col["longitude"]]) for r in placed],
                     "y": [num(r[col["latitude"]]) for r in placed], "name": what,
                     "text": [f"{r[col['sample_id']]}: {r[col[key]]}" for r in placed],
                     "hovertemplate": "%{text}<extra>" + what + "</extra>", "visible": True if key == "predicted" else "legendonly",
                     "marker": {"color": [num(r[col[key]]) for r in placed], "colorscale": "RdBu",
                                "cmin": lo, "cmax": hi, "size": 9, "showscale": key == "predicted",
                                "colorbar": {"title": {"text": target}}}}
                    for key, what in (("predicted", "predicted (held out)"), ("measured", "measured"))],
                    "layout": _layout(f"{target} by place (longitude, latitude)", "longitude", "latitude", height=430,
                                      xaxis={"title": {"text": "longitude"}, "range": [-180, 180]},
                                      yaxis={"title": {"text": "latitude"}, "range": [-90, 90],
                                             "scaleanchor": "x"})}))
    return Section(f"Environment from sequence: {path.name}", "env fit", str(path), summary, figs, tables)


def env_condition_section(path: Path) -> Section:
    m = _json(path / "metrics.json")
    summary = (f"Sequences are {m.get('gain_bits_per_kb', float('nan')):.2f} bits per kb more likely under their own "
               f"sample's conditions ({', '.join(m.get('conditions', []))}) than under shuffled ones "
               f"(p = {m.get('p_value', float('nan')):.3g}, {m.get('permutations', 0):,} shufflings; "
               f"{m.get('true_bpb', float('nan')):.4f} vs {m.get('shuffled_bpb', float('nan')):.4f} bits per base).")
    per = m.get("per_condition") or {}
    rows = [[c, _fmt(v.get("gain_bits_per_kb")), _fmt(v.get("p_value")), _fmt(v.get("own_condition_beats"))]
            for c, v in per.items()]
    figs = [("png", path / "permutation.png")] if (path / "permutation.png").is_file() else []
    if (path / "metrics.jsonl").is_file():
        hist = _jsonl(path / "metrics.jsonl")
        figs.insert(0, ("plotly", {"data": [_line([h["step"] for h in hist], [h["loss"] for h in hist], "training loss",
                                                   PALETTE[0])],
                                   "layout": _layout("Conditioned training", "step", "loss (nats per token)")}))
    return Section(f"Environment → sequence: {path.name}", "env condition", str(path), summary, figs,
                   [("Per condition", ["condition", "gain (bits/kb)", "p-value", "own condition beats"], rows)])


def backtest_section(path: Path) -> Section:
    d = _json(path / "summary.json")
    s, seasons = d.get("summary", {}), d.get("seasons", [])
    sp = s.get("strain_pick", {})
    p10 = s.get("precision@10", {})
    summary = (f"Over {len(seasons)} seasons, genolm's strain pick scores {_fmt(sp.get('genolm', {}).get('mean'), 2)} "
               f"on average (0 = a random candidate, 1 = the best) and the last-3-months profile "
               f"{_fmt(sp.get('last 3 months profile', {}).get('mean'), 2)}; its top-10 mutations hold "
               f"{_fmt(p10.get('genolm', {}).get('mean'), 2)} of the sweeps, last-season frequency "
               f"{_fmt(p10.get('last-season frequency', {}).get('mean'), 2)}.")
    years = [x.get("predict") for x in seasons]
    traces = []
    for i, k in enumerate(sp):
        ys = [((x.get("evaluation") or {}).get("strain_pick") or {}).get(k) for x in seasons]
        traces.append(_line(years, ys, k, PALETTE[i % len(PALETTE)]))
    figs = [("plotly", {"data": traces, "layout": _layout("Strain pick score per season", "season", "score (1 = best)")})]
    table = [[k, _fmt(v.get("mean")), _fmt(v.get("sd")), _fmt(v.get("n"))] for k, v in sp.items()]
    return Section(f"Forecast backtest: {path.name}", "backtest", str(path), summary, figs,
                   [("Strain pick over the seasons", ["method", "mean", "sd", "seasons"], table)])


def embed_section(path: Path) -> Section:
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    meta = json.loads(t.schema.metadata[b"genolm_embed"])
    x = np.asarray(t.column("embedding").to_pylist(), np.float32)
    group_col = next((c for c in ("sample_id", "file") if c in t.column_names), None)
    groups = t.column(group_col).to_pylist() if group_col else ["all"] * len(x)
    summary = (f"{len(x):,} sequences embedded into {meta.get('dim', x.shape[1] if x.ndim == 2 else '?')} dimensions "
               f"by {Path(str(meta.get('model', '?'))).name} ({meta.get('model_kind', '?')}, {meta.get('pool', '?')} "
               f"pooling); the map shows the first two principal components, coloured by {group_col or 'nothing'}.")
    figs = []
    if len(x) >= 3:
        keep = np.sort(np.random.default_rng(0).permutation(len(x))[:MAP_POINTS])
        shown = f" ({MAP_POINTS:,} of {len(x):,} sequences, drawn at random)" if len(x) > MAP_POINTS else ""
        centred = x - x.mean(0)
        _, sv, vt = np.linalg.svd(centred[keep], full_matrices=False)
        xy = centred[keep] @ vt[:2].T
        var = sv[:2] ** 2 / max((sv ** 2).sum(), 1e-12)
        ids = t.column("id").to_pylist()
        traces = []
        for i, g in enumerate(dict.fromkeys(groups[k] for k in keep)):
            sel = [j for j, k in enumerate(keep) if groups[k] == g]
            traces.append({"type": "scatter", "mode": "markers", "name": str(g), "x": xy[sel, 0].tolist(),
                           "y": xy[sel, 1].tolist(), "text": [ids[keep[j]] for j in sel],
                           "marker": {"size": 5, "opacity": 0.7, "color": PALETTE[i % len(PALETTE)]}})
        figs.append(("plotly", {"data": traces, "layout": _layout(
            f"Embedding map{shown}", f"PC 1 ({var[0]:.0%} of variance)", f"PC 2 ({var[1]:.0%})", height=460)}))
    return Section(f"Embeddings: {path.name}", "embed", str(path), summary, figs,
                   [("Embedding", ["", ""], [[_label(k), _fmt(v)] for k, v in meta.items()])])


def score_section(path: Path) -> Section:
    import pyarrow.parquet as pq

    t = pq.read_table(path).to_pydict()
    meta = json.loads(pq.read_schema(path).metadata[b"genolm"])
    aa = "alt_aa" in t
    seq_id = t["seq_id"][0] if t["seq_id"] else "?"
    rows = [i for i, s_ in enumerate(t["seq_id"]) if s_ == seq_id]
    pos = [t["position"][i] for i in rows]
    alt = [t["alt_aa" if aa else "alt"][i] for i in rows]
    score = [t["score"][i] for i in rows]
    worst = int(np.argmin(score)) if score else None
    ref = [t["ref_aa" if aa else "ref"][i] for i in rows]
    summary = (f"{len(t['score']):,} {'amino-acid' if aa else 'single-base'} substitutions scored by "
               f"{Path(str(meta.get('model', '?'))).name} ({meta.get('method', '?')}); along {seq_id}, the most "
               f"damaging is {ref[worst]}{pos[worst]}{alt[worst]} (log-likelihood ratio {score[worst]:.2f})."
               if worst is not None else "No substitutions.")
    letters = sorted(set(alt))
    at = {a: i for i, a in enumerate(letters)}
    xs = sorted(set(pos))
    col = {p: i for i, p in enumerate(xs)}
    z = [[None] * len(xs) for _ in letters]
    for p, a, v in zip(pos, alt, score):
        z[at[a]][col[p]] = v
    figs = [("plotly", {"data": [{"type": "heatmap", "z": z, "x": xs, "y": letters, "colorscale": "RdBu",
                                  "reversescale": True, "zmid": 0, "colorbar": {"title": {"text": "LLR"}},
                                  "hovertemplate": "position %{x} → %{y}: %{z:.2f}<extra></extra>"}],
                        "layout": _layout(f"Mutation landscape of {seq_id} (blue: tolerated, red: damaging)",
                                          "codon" if aa else "position", "substitution", height=420)})]
    tables = []
    if "truth_effect" in t:
        summary, more, tables = _truth_parts(path, t, summary)
        figs += more
    return Section(f"Substitution scores: {path.name}", "score", str(path), summary, figs, tables)


def _truth_parts(path: Path, t: dict, summary: str):
    """score --truth: the agreement table, measured against predicted effects, Spearman per site."""
    info = path.with_suffix(".truth.json")
    agreement = json.loads(info.read_text())["agreement"] if info.is_file() else {}
    truth = np.asarray(t["truth_effect"], float)
    m = np.flatnonzero(np.isfinite(truth))
    names = {"score": "model", "frequency": "frequency table", "blosum62": "BLOSUM62"}
    figs = []
    for i, (col, name) in enumerate((c, n) for c, n in names.items() if c in t):
        x = np.asarray(t[col], float)[m]
        figs.append(("plotly", {"data": [{"type": "scatter", "mode": "markers", "x": x.tolist(), "y": truth[m].tolist(),
                                          "text": [f"{t['ref_aa'][k]}{t['codon'][k]}{t['alt_aa'][k]}" for k in m],
                                          "marker": {"size": 4, "opacity": 0.5, "color": PALETTE[i % len(PALETTE)]}}],
                                "layout": _layout(f"Measured against {name}: Spearman "
                                                  f"{agreement.get(name, {}).get('all_pairs', float('nan')):.3f} over "
                                                  f"all pairs", name, "measured effect", height=380)}))
    per_site = path.with_suffix(".truth.tsv")
    if per_site.is_file():
        rows = [line.split("\t") for line in per_site.read_text().splitlines()]
        head, body = rows[0], rows[1:]
        traces = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": [r[0] for r in body],
                   "y": [float(r[j]) if r[j] != "nan" else None for r in body],
                   "marker": {"size": 4, "color": PALETTE[(j - 1) % len(PALETTE)]}}
                  for j, name in enumerate(head[1:], 1)]
        figs.append(("plotly", {"data": traces, "layout": _layout("Spearman within each measured site", "site",
                                                                   "Spearman", height=380)}))
    tables = [("Against the lab (Spearman)", ["scoring", "all pairs", "mean per site"],
               [[n, _fmt(a["all_pairs"]), _fmt(a["mean_per_site"])] for n, a in agreement.items()])]
    if agreement:
        best = max(agreement, key=lambda n: agreement[n]["all_pairs"])
        summary += (f" Against {len(m):,} measured effects, {best} agrees best over all pairs "
                    f"(Spearman {agreement[best]['all_pairs']:.3f}); the model: {agreement['model']['all_pairs']:.3f} "
                    f"over all pairs, {agreement['model']['mean_per_site']:.3f} within sites.")
    return summary, figs, tables


UNIFORM_BITS = 2.0  # a blind guess among A, C, G and T: log2(4) bits per base


def bits_verdict(rows: list[tuple[str, float, int | None]]) -> list[str]:
    """What a table of held-out bits per base says, in sentences a newcomer can read: which model
    is best and by how much against the Markov baseline, why the baseline may win, and which
    models do worse than a blind guess.  ``rows``: (model, bits per base, tokens it trained on);
    the baseline's name starts with "Markov".

    >>> bits_verdict([("Markov k<=12", 1.90, 10**6), ("transformer clm (tf)", 2.07, 10**6)])[1]
    'The Markov k<=12 baseline beats every network here: they trained on at most 1,000,000 tokens; networks need more data and steps to overtake it (BENCHMARKS.md has GPU-trained figures).'
    """
    rows = [r for r in rows if math.isfinite(r[1])]
    markov = next((r for r in rows if r[0].startswith("Markov")), None)
    nets = [r for r in rows if r is not markov]
    out = []
    if nets:
        best = min(nets, key=lambda r: r[1])
        line = f"Best network: {best[0]} at {best[1]:.4f} bits per base"
        if markov is not None:
            gap = markov[1] - best[1]
            line += (f", {gap:.4f} below the {markov[0]} baseline ({markov[1]:.4f})" if gap > 0 else
                     f", {-gap:.4f} above the {markov[0]} baseline ({markov[1]:.4f})")
        out.append(line + f" ({UNIFORM_BITS:.3f} = a blind guess among A, C, G and T).")
        if markov is not None and best[1] >= markov[1]:
            seen = max((r[2] for r in nets if r[2]), default=None)
            out.append(f"The {markov[0]} baseline beats every network here"
                       + (f": they trained on at most {seen:,} tokens; networks need more data and steps "
                          f"to overtake it" if seen else "")
                       + " (BENCHMARKS.md has GPU-trained figures).")
    for name, bits, _ in rows:
        if bits > UNIFORM_BITS:
            out.append(f"{name} needs {bits:.4f} bits per base, more than a blind guess ({UNIFORM_BITS:.0f} bits): "
                       f"what it learned does not hold on these sequences (an unseen genome, or too little training).")
    return out


def evaluate_section(path: Path) -> Section:
    head, rows = _tsv(path)
    col = {h: i for i, h in enumerate(head)}

    def bpb(r):
        try:
            return float(r[col["val_bpb"]])
        except ValueError:
            return float("nan")

    def seen(r):
        v = r[col["tokens_seen"]] if "tokens_seen" in col else ""
        return int(v) if v.isdigit() else None

    scored = [r for r in rows if math.isfinite(bpb(r))]
    markov = next((r for r in scored if r[0].startswith("Markov")), None)
    summary = " ".join(bits_verdict([(r[0], bpb(r), seen(r)) for r in scored])) or "No scored model."
    summary += (" genolm evaluate scores every window of the validation split, so its figures may differ slightly "
                "from those a training run logs (on the first windows only).")
    # bars start at 0, so their lengths compare; the dashed line is a uniform guess, log2(4) = 2 bits
    guess = {"type": "line", "xref": "x", "yref": "paper", "x0": 2.0, "x1": 2.0, "y0": 0, "y1": 1,
             "line": {"color": "#555", "dash": "dash", "width": 1.5}}
    note = {"x": 2.0, "y": 1, "xref": "x", "yref": "paper", "xanchor": "right", "yanchor": "bottom", "showarrow": False,
            "text": "uniform guess over ACGT (2 bits) ", "font": {"size": 11, "color": "#555"}}
    figs = [("plotly", {"data": [{"type": "bar", "orientation": "h", "y": [r[0] for r in scored],
                                  "x": [bpb(r) for r in scored], "text": [f"{bpb(r):.4f}" for r in scored],
                                  "textposition": "auto", "marker": {"color": [PALETTE[1] if r is markov else PALETTE[0]
                                                                              for r in scored]}}],
                        "layout": _layout("Held-out bits per base (lower is better)", "bits per base", "",
                                          xaxis={"title": {"text": "bits per base"}, "tickformat": ".1f",
                                                 "range": [0, 1.1 * max([2.0, *map(bpb, scored)])]},
                                          yaxis={"autorange": "reversed"}, shapes=[guess], annotations=[note],
                                          margin={"l": 260, "r": 20, "t": 60, "b": 50}, height=140 + 40 * len(scored))})]
    # thousands separators, bits to 4 decimals (1.8570, not 1.857); _table_html shows None as a dash
    rows = [[f"{int(c):,}" if c.isdigit() else f"{bpb(r):.4f}" if k == col["val_bpb"] and math.isfinite(bpb(r))
             else c for k, c in enumerate(r)] for r in rows]
    return Section(f"Held-out bits per base: {path.name}", "evaluate", str(path), summary, figs,
                   [("Models", head, rows)])


def classify_section(path: Path) -> Section:
    head, rows = _tsv(path)
    g = head.index("genome")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[g] or "unassigned"] = counts.get(r[g] or "unassigned", 0) + 1
    side = path.with_name(path.stem + ".metrics.json")
    m = _json(side) if side.is_file() else {}
    method = (m.get("summary") or {}).get("method")
    scores = m.get("metrics") or {}
    # the genome and, where --taxa grouped genomes into fewer taxa, the taxon level too
    levels = [lv for lv in ("genome", "taxon") if (scores.get(method) or {}).get(lv)]
    if levels == ["genome", "taxon"] and (m.get("summary") or {}).get("taxa") == (m.get("summary") or {}).get("references"):
        levels = ["genome"]
    if levels:
        def acc(name):
            return " and ".join(f"{scores[name][lv]['accuracy']:.1%}" for lv in levels)

        summary = (f"genolm ({method}) classified {len(rows):,} reads; against the truth, {acc(method)} are assigned "
                   f"to the right {' and '.join(levels)}{' respectively' if len(levels) > 1 else ''}")
        if method != "kmer" and all((scores.get("kmer") or {}).get(lv) for lv in levels):
            summary += f", where exact k-mer lookup gets {acc('kmer')}"
        summary += "."
    else:
        unassigned = counts.get("unassigned", 0) + counts.get("-", 0)
        summary = (f"genolm classified {len(rows):,} reads: {len(rows) - unassigned:,} assigned to a reference; "
                   f"no truth table was given, so there is no score.")
    order = sorted(counts, key=lambda k: -counts[k])
    figs = [("plotly", {"data": [{"type": "bar", "x": order, "y": [counts[k] for k in order],
                                  "marker": {"color": PALETTE[0]}}],
                        "layout": _layout("Reads per assigned genome", "", "reads", height=360)})]
    tables = []
    for name, levels in scores.items():
        keys = ["accuracy", "assigned", "macro_precision", "macro_recall", "macro_f1", "ari"]
        tables.append((f"{name} against the truth", ["level"] + keys,
                       [[lv] + [_fmt(v.get(k)) for k in keys] for lv, v in levels.items() if isinstance(v, dict)]))
    return Section(f"Read classification: {path.name}", "classify", str(path), summary, figs, tables)


def generate_section(path: Path) -> Section:
    from genolm.bio.genome_stats import longest_homopolymer, stop_rate
    from genolm.bio.seq import gc_content
    from genolm.io.seqio import read_records

    recs = []
    for r in read_records(path, case="upper"):
        recs.append(r)
        if len(recs) == GENERATED_MAX:
            break
    head = GENERATED.match(_first_line(path))
    settings = dict(kv.split("=", 1) for kv in head.group(0).split()[1:]) if head else {}
    lengths = np.array([len(r.seq) for r in recs])
    gc = np.array([gc_content(r.seq, unknown="n") for r in recs])
    homo = np.array([longest_homopolymer(r.seq) for r in recs])
    stops = np.array([stop_rate(r.seq) for r in recs])
    n = f"the first {len(recs):,}" if len(recs) == GENERATED_MAX else f"{len(recs):,}"
    summary = (f"{n} generated sequences ({int(np.median(lengths)) if len(recs) else 0:,} bases each, median; "
               f"temperature {settings.get('temperature', '?')}, "
               + (f"min-p {settings['min_p']}, " if "min_p" in settings else "") +
               f"seed {settings.get('seed', '?')}): GC content "
               f"{gc.mean() if len(recs) else float('nan'):.3f} ± {gc.std() if len(recs) else float('nan'):.3f}, "
               f"{stops.mean() if len(recs) else float('nan'):.3f} stop codons per codon over the six frames "
               f"(random DNA of 50% GC: 0.047; coding DNA is lower), longest homopolymer "
               f"{int(np.median(homo)) if len(recs) else 0} bases (median). Judge them against real DNA with "
               f"genolm viability.")
    figs = []
    if len(recs):
        figs.append(("plotly", {"data": [
            {"type": "histogram", "x": gc.tolist(), "name": "GC content", "marker": {"color": PALETTE[0]},
             "nbinsx": 40},
            {"type": "histogram", "x": stops.tolist(), "name": "stop codons per codon", "marker": {"color": PALETTE[1]},
             "nbinsx": 40, "xaxis": "x2", "yaxis": "y2"}],
            "layout": _layout("Per sequence: GC content and stop-codon rate", "GC content", "sequences",
                              xaxis={"title": {"text": "GC content"}, "domain": [0, 0.46]},
                              xaxis2={"title": {"text": "stop codons per codon (six frames)"}, "domain": [0.54, 1],
                                      "anchor": "y2"},
                              yaxis2={"anchor": "x2", "title": {"text": "sequences"}}, showlegend=False)}))
    table = [[name] + ([_fmt(cast(f(v))) for f in (np.min, np.median, np.max)] if len(v) else ["-"] * 3)
             for name, v, cast in (("length", lengths, int), ("GC content", gc, float),
                                   ("stop codons per codon", stops, float), ("longest homopolymer", homo, int))]
    return Section(f"Generated sequences: {path.name}", "generate", str(path), summary, figs,
                   [("Per sequence", ["", "min", "median", "max"], table)])


def generic_section(kind: str, path: Path) -> Section:
    pngs = sorted(path.glob("*.png")) if path.is_dir() else []
    return Section(f"{kind}: {path.name}", kind, str(path), f"A genolm {kind} output.", [("png", p) for p in pngs])


SECTIONS = {"pretrain": pretrain_section, "finetune": finetune_section, "bench": bench_section, "bin": bin_section,
            "viability": viability_section, "evolve": evolve_section, "env fit": env_fit_section,
            "env condition": env_condition_section, "backtest": backtest_section, "embed": embed_section,
            "score": score_section, "evaluate": evaluate_section, "classify": classify_section,
            "generate": generate_section, "design": design_section}


def sections(found: list[tuple[str, Path]]) -> list[Section]:
    return [SECTIONS[k](p) if k in SECTIONS else generic_section(k, p) for k, p in found]


# ----------------------------------------------------------------------------- HTML

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#12355b;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
nav{padding:10px 32px;background:#eef2f7;font-size:13px}nav a{margin-right:14px;color:#12355b}
main{padding:8px 32px 40px;max-width:1200px}
section.artifact{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:14px 20px;margin:18px 0}
section.artifact h2{font-size:18px;margin:4px 0 6px}.path{font:12px monospace;color:#6b7280}
p.summary{font-size:15px;line-height:1.5;background:#f4f8fc;border-left:4px solid #12355b;padding:8px 12px}
.plot{width:100%;min-height:340px}figure{margin:10px 0}figure img{max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}caption{text-align:left;font-weight:600;padding:4px 0}
td,th{border-bottom:1px solid #e5e7eb;padding:3px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f4f6}
"""


def _table_html(caption, header, rows) -> str:
    head = "".join(f"<th>{html.escape(_label(h))}</th>" for h in header) if any(header) else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<table><caption>{html.escape(caption)}</caption>" + (f"<thead><tr>{head}</tr></thead>" if head else "")
            + f"<tbody>{body}</tbody></table>")


def _plotly_js(mode: str) -> str:
    if mode == "inline":
        from plotly.offline import get_plotlyjs

        return f"<script>{get_plotlyjs()}</script>"
    return f'<script src="{html.escape(mode)}"></script>'


def render(secs: list[Section], title: str = "genolm report", plotly_js: str = "inline") -> str:
    """The page: one <section class="artifact"> per output, Plotly figures as <div class="plot">."""
    from genolm import __version__

    parts, n_plot = [], 0
    nav = "".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(secs, 1))
    for i, s in enumerate(secs, 1):
        body = [f'<section class="artifact" id="s{i}" data-kind="{html.escape(s.kind)}">',
                f"<h2>{html.escape(s.title)}</h2>", f'<div class="path">{html.escape(s.path)}</div>',
                f'<p class="summary">{html.escape(s.summary)}</p>']
        for what, fig in s.figures:
            if what == "plotly":
                n_plot += 1
                spec = json.dumps(json_safe(fig), allow_nan=False, default=_json_default).replace("</", "<\\/")
                body.append(f'<div class="plot" id="plot{n_plot}"></div><script>(function(){{var f = {spec}; '
                            f'Plotly.newPlot("plot{n_plot}", f.data, f.layout, '
                            f'{{"responsive": true, "displaylogo": false}});}})();</script>')
            elif what == "png":
                data = base64.b64encode(Path(fig).read_bytes()).decode()
                body.append(f'<figure><img alt="{html.escape(Path(fig).name)}" src="data:image/png;base64,{data}">'
                            f"<figcaption class=\"path\">{html.escape(Path(fig).name)}</figcaption></figure>")
        body += [_table_html(*t) for t in s.tables] + ["</section>"]
        parts.append("\n".join(body))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
            + (_plotly_js(plotly_js) if n_plot else "") + "</head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{len(secs)} outputs · genolm {__version__} · {stamp}</p></header>"
            f"<nav>{nav}</nav><main>" + "\n".join(parts) + "</main></body></html>\n")


def _json_default(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x).__name__)


def write_report(paths: list[str], out: str | Path, title: str = "genolm report", plotly_js: str = "inline") -> list[Section]:
    """Discover, draw and write the page atomically; returns the sections."""
    from genolm.io.atomic import atomic_file

    secs = sections(discover(paths))
    text = render(secs, title, plotly_js)
    with atomic_file(Path(out)) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return secs
