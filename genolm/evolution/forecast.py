"""Forecasting a virus's next season: train a causal model only on the seasons before the target
(recent sequences weighted up), pick the candidate strain it finds most likely, rank every
amino-acid substitution of the last season's consensus, and score both against what really
circulated, beside the simple baselines (consensus, recent profile, LBI, frequency and its rise).
The command is ``genolm evolve`` (its --help lists the outputs)."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.evolution.scoring import Scorer, aa_rows, codon_substitutions
from genolm.infer.likelihood import bits_per_base, letters_only
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress
from genolm.report import figures
from genolm.train.conditioned import train_conditioned


@dataclass(kw_only=True)
class EvolveArgs(CommandArgs):
    """Options of ``genolm evolve`` (see its --help): one season (``until``) or a ``backtest`` range."""

    data: str
    metadata: str | None = None
    id_column: str = "id"
    date_column: str = "date"
    date_field: int = 2
    sep: str = "|"
    until: int | None = None
    backtest: str | None = None  # FIRST-LAST
    predict: int | None = None  # default: until + 1
    init: str | None = None
    flavor: str = "tiny"
    steps: int = 1500
    batch_size: int = 32
    lr: float | None = None  # default: 1e-3 for a new model, 2e-4 with init
    half_life: float = 1.0
    months: int = 3
    frame: int = 0
    table: int = 1
    top: int = 20
    fitness_terms: str = "lbi"  # of the fitness model (genolm.evolution.fitness.TERMS)
    epitope_sites: str | None = None  # 1-based protein positions, comma-separated, or "koel-h3"

    def check(self) -> None:
        if not self.out:
            self.fail("out", "an output directory", self.out)
        if (self.until is None) == (self.backtest is None):
            raise GenolmError("give one of --until YEAR or --backtest FIRST-LAST",
                              found=f"--until {self.until}, --backtest {self.backtest}")
        if self.backtest is not None:
            if self.predict is not None:
                raise GenolmError("--predict goes with --until (a --backtest predicts every season of its range)")
            parse_range(self.backtest)
        elif self.predict is not None and self.predict <= self.until:
            raise GenolmError("--predict must come after --until", found=f"--until {self.until} --predict {self.predict}")
        for name in ("steps", "batch_size", "months", "top"):
            self.at_least(name, 1)
        self.at_least("half_life", 0)
        self.at_least("date_field", 0)
        if self.lr is not None and not self.lr > 0:
            self.fail("lr", "a learning rate above 0", self.lr)
        if self.frame not in (0, 1, 2):
            self.fail("frame", "0, 1 or 2", self.frame)
        if not self.sep:
            self.fail("sep", "a header field separator", self.sep)
        from genolm.evolution.fitness import TERMS

        terms = [t for t in self.fitness_terms.split(",") if t]
        if any(t not in TERMS for t in terms):
            self.fail("fitness_terms", "comma-separated: " + ", ".join(TERMS), self.fitness_terms)
        if "epitope" in terms and not self.epitope_sites:
            raise GenolmError("the epitope term needs --epitope-sites (positions, or koel-h3)")
        epitope_positions(self.epitope_sites)  # checks them


# ---- reading -------------------------------------------------------------------------------------

def read_dated(args: EvolveArgs):
    """The records of --data with their dates (header field, or --metadata)."""
    from genolm.evolution.baselines import Dated, dated_records, parse_date

    if not Path(args.data).is_file():
        raise GenolmError("no such input file", file=args.data)
    if not args.metadata:
        data = dated_records(args.data, field=args.date_field, sep=args.sep)
    else:
        from genolm.io.seqio import read_records

        dates = _metadata_dates(args.metadata, args.id_column, args.date_column)
        ids, seqs, when = [], [], []
        for r in read_records(args.data, case="upper"):
            if r.id not in dates:
                raise GenolmError("record has no row in the metadata", file=args.metadata, record=r.id,
                                  hint=f"the --id-column {args.id_column!r} must hold the FASTA ids")
            ids.append(r.id)
            seqs.append(r.seq)
            when.append(parse_date(dates[r.id], r.id))
        data = Dated(ids, seqs, when)
    if not data.ids:
        raise GenolmError("no sequences in the input", file=args.data)
    lengths = {len(s) for s in data.seqs}
    if len(lengths) != 1:
        raise GenolmError("sequences are not aligned", file=args.data, expected="one length",
                          found=", ".join(map(str, sorted(lengths)[:5])), hint="align them first (e.g. with MAFFT)")
    return data


def _metadata_dates(path: str, id_column: str, date_column: str) -> dict[str, str]:
    import csv

    if not Path(path).is_file():
        raise GenolmError("no such metadata file", file=path)
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter="," if path.endswith(".csv") else "\t")
        header = next(reader, None) or []
        for col in (id_column, date_column):
            if col not in header:
                raise GenolmError("metadata has no such column", file=path, found=", ".join(header[:8]),
                                  expected=col, hint="choose with --id-column / --date-column")
        i, j = header.index(id_column), header.index(date_column)
        out = {}
        for line, row in enumerate(reader, start=2):
            if len(row) <= max(i, j):
                raise GenolmError("metadata row is short", file=path, line=line,
                                  expected=f"{len(header)} fields", found=f"{len(row)}")
            out[row[i]] = row[j]
    return out


def epitope_positions(text: str | None) -> list[int] | None:
    """--epitope-sites: 0-based protein positions (the option takes 1-based ones, or koel-h3)."""
    from genolm.evolution.fitness import KOEL_H3_SITES

    if not text:
        return None
    if text.lower() == "koel-h3":
        return [s - 1 for s in KOEL_H3_SITES]
    try:
        sites = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GenolmError("--epitope-sites takes positions", found=repr(text),
                          expected="1-based protein positions, comma-separated (145,155,156), or koel-h3") from None
    if not sites or min(sites) < 1:
        raise GenolmError("--epitope-sites takes positions from 1", found=repr(text))
    return [s - 1 for s in sites]


def family_constraint(consensus: str, family: np.ndarray) -> np.ndarray:
    """(L, 20) genolm's combined mutation-effect score of every change of ``consensus``, its family
    the aligned proteins ``family`` (genolm.evolution.dms)."""
    from genolm.evolution.dms import AMINO, combined_table

    counts = np.stack([(family == a).sum(0) for a in AMINO], axis=1).astype(float)
    return combined_table(consensus, counts)


# ---- one season ----------------------------------------------------------------------------------

def in_frame(seqs: list[str], frame: int) -> list[str]:
    """The whole codons of each sequence from ``frame`` on."""
    return [s[frame: frame + (len(s) - frame) // 3 * 3] for s in seqs]


def recency_weights(dates, horizon: float, half_life: float) -> np.ndarray:
    """Training weight of each date: halves every ``half_life`` years before ``horizon`` (0: all 1)."""
    if half_life <= 0:
        return np.ones(len(dates))
    age = np.array([horizon - d.decimal for d in dates])
    return 0.5 ** (np.maximum(age, 0.0) / half_life)


def _model(args, device: str, length: int):
    from genolm.model import build_model, config_for
    from genolm.tokenize import get_tokenizer
    from genolm.train import checkpoint

    if args.init:
        model, tok, _ = checkpoint.load_model(args.init, device)
        if not model.config.causal or getattr(tok, "kind", None) != "char":
            raise GenolmError("--init must be a causal model with a one-letter tokenizer", file=args.init)
        if length > model.config.max_len:
            raise GenolmError("the sequences are longer than --init's window", found=str(length - 1),
                              expected=f"at most {model.config.max_len - 1} nt")
        return model, tok
    tok = get_tokenizer("char", unknown="n")
    cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=True)
    if length > cfg.max_len:
        cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=True, max_len=length)
    return build_model(cfg).to(device), tok


def nt_consensus(seqs: list[str]) -> str:
    """Most frequent A/C/G/T per column (N where a column has none)."""
    arr = np.array([list(s) for s in seqs])
    out = []
    for col in arr.T:
        known = col[np.isin(col, list("ACGT"))]
        if len(known) == 0:
            out.append("N")
            continue
        values, counts = np.unique(known, return_counts=True)
        out.append(str(values[np.argmax(counts)]))
    return "".join(out)


def percentile_rank(x: np.ndarray) -> np.ndarray:
    """Rank of each value in [0, 1], ties sharing their mean rank."""
    from scipy.stats import rankdata

    return (rankdata(x) - 1) / max(len(x) - 1, 1)


def forecast(data, until: int, predict: int, args: EvolveArgs, device: str, prot=None, fitness_cache=None) -> tuple:
    """Train on the seasons up to ``until``, forecast ``predict``; evaluate when it is in the data.
    Returns (result for forecast.json, model, tokenizer, the tables behind the output files)."""
    import torch

    from genolm.bio.codon import translate
    from genolm.evolution.baselines import baselines, before, evaluate, proteins
    from genolm.io.seqio import SeqRecord
    from genolm.tokenize import SEP

    t0 = time.perf_counter()
    if predict <= until:
        raise GenolmError("--predict must come after --until", found=f"--until {until} --predict {predict}")
    seqs = in_frame(data.seqs, args.frame)
    prot = proteins(seqs, args.table) if prot is None else prot
    train, dropped = before(data, until + 1)
    if not train.ids:
        raise GenolmError(f"no sequence is dated in or before {until}", file=args.data)
    latest = max(train.dates, key=lambda d: d.decimal)
    if latest.year > until:  # checked, not assumed
        raise GenolmError("a sequence after the last observed season reached training", found=str(latest))
    base = baselines(data, prot, until, args.months)

    torch.manual_seed(args.seed)
    model, tok = _model(args, device, max(len(s) for s in train.seqs) + 1)
    rows = []
    for rid, s in zip(train.ids, train.seqs):
        e = tok.encode(s)
        if e is None or len(e) == 0:
            raise GenolmError("sequence cannot be tokenized", file=args.data, record=rid)
        rows.append(np.r_[SEP, np.asarray(e, np.int64)])
    weights = recency_weights(train.dates, until + 1, args.half_life)
    t_train = time.perf_counter()
    losses = train_conditioned(model, tok, rows, np.zeros((len(rows), 0), np.int64), np.zeros(0, np.int64),
                               steps=args.steps, batch_size=args.batch_size, window=max(len(r) for r in rows),
                               lr=args.lr or (2e-4 if args.init else 1e-3), drop=0.0, table=None, device=device,
                               seed=args.seed, progress=not args.no_progress, weights=weights)
    t_train = time.perf_counter() - t_train

    # strain pick: the most likely candidate
    cand = base["candidates"]
    bits = bits_per_base(model, tok, [np.asarray(tok.encode(data.seqs[i]), np.int64) for i in cand], device=device,
                         batch_size=2 * args.batch_size, weight=letters_only(tok), dtype=None)  # fp32: a ranking
    picks = {"genolm": int(np.argmin(bits)), **base["picks"]}

    # mutation pick: aa log-likelihood ratios on the last season's nucleotide consensus
    ref = nt_consensus([seqs[i] for i in cand])
    subs = codon_substitutions(ref, 0)
    with progress(len(subs), f"evolve {predict}: score", "sub", enabled=not args.no_progress) as bar:
        scorer = Scorer(model, tok, "llr", device, batch_size=4 * args.batch_size, bf16=False, progress=bar.update)
        table = aa_rows(SeqRecord("consensus", ref, None, ""), subs, scorer.score(ref, subs), args.table, 0,
                        translate)
    llr = {(c - 1, a): s for c, a, s in zip(table["codon"], table["alt_aa"], table["score"])}
    muts = base["mutations"]
    floor = min(llr.values()) if llr else 0.0
    ref_aa = translate(ref, args.table)
    genolm_scores = np.array([llr.get(m, 0.0 if ref_aa[m[0]] == m[1] else floor) for m in muts])
    # the fitness model: the population now, grown by fitness; fit only on the seasons up to `until`
    from genolm.evolution import fitness

    kept = np.flatnonzero(data.years() <= until)
    terms = [t for t in args.fitness_terms.split(",") if t]
    fit = fitness.forecast(train, prot[kept], until, args.months,
                           epitope_positions(args.epitope_sites) if "epitope" in terms else None,
                           family_constraint if "constraint" in terms else None, cache=fitness_cache,
                           use=terms)
    if not np.array_equal(kept[fit["season"].candidates], cand):
        raise GenolmError("internal: the fitness model's candidates differ from the baselines'")
    picks["fitness model"] = fit["pick"]
    scores = {"genolm": genolm_scores,
              "genolm + frequency": (percentile_rank(genolm_scores)
                                     + percentile_rank(base["scores"]["last-season frequency"])) / 2,
              "fitness model": fitness.predicted_frequency(prot[kept], fit["season"], fit["population"], muts),
              **base["scores"]}
    order = np.argsort(-genolm_scores, kind="stable")
    cons = base["consensus"]
    names = [f"{cons[j]}{j + 1}{a}" for j, a in muts]
    result = {
        "until": until, "predict": predict, "device": device,
        "train": {"sequences": len(train.ids), "left_out_later": dropped, "latest_date": _date_text(latest),
                  "steps": args.steps, "batch_size": args.batch_size, "half_life": args.half_life,
                  "final_loss": float(np.mean(losses[-50:])), "seconds": round(t_train, 1),
                  "params": sum(p.numel() for p in model.parameters())},
        "candidates": len(cand),
        "fitness_model": {"terms": terms, "weights": fit["weights"], "fit_seasons": fit["fit_seasons"],
                          "fit_mean_distance": fit["fit_mean_distance"]},
        "strain_pick": {k: data.ids[cand[i]] for k, i in picks.items()},
        "top_mutations": [{"mutation": names[k], "genolm": round(float(genolm_scores[k]), 4),
                           "last_frequency": round(float(base["scores"]["last-season frequency"][k]), 4)}
                          for k in order[: args.top]],
    }
    target = np.flatnonzero(data.years() == predict)
    ev = evaluate(prot, target, base, picks, scores) if len(target) else None
    if ev is not None:
        rank = np.empty(len(muts), int)
        rank[order] = np.arange(1, len(muts) + 1)
        result["evaluation"] = {
            "targets": ev["targets"], "strain_pick": ev["strain_pick"], "mutation_pick": ev["mutation_pick"],
            "sweeps": [{"mutation": names[k], "genolm_rank": int(rank[k]), "unseen_last_season": bool(ev["unseen"][k])}
                       for k in np.flatnonzero(ev["truth"])],
            "sweeps_unseen_last_season": ev["sweeps_unseen_last_season"],
            "unseen_sweeps_in_genolm_top_50": int(sum(rank[k] <= 50 for k in np.flatnonzero(ev["unseen"]))),
            "precision@10_ceiling": ev["precision@10_ceiling"], "mutations_ranked": len(muts),
            # Huddleston et al.'s measure: the predicted population's mean amino-acid distance to the next season
            "population_distance": {"fitness model": float(fit["population"] @ ev["to_target"]),
                                    f"last {args.months} months": float(fit["season"].now @ ev["to_target"]),
                                    "last season": float(ev["to_target"].mean())}}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    tables = {"muts": muts, "names": names, "scores": scores, "truth": ev["truth"] if ev else None,
              "bits": bits, "base": base, "to_target": ev["to_target"] if ev else None, "cons": cons}
    return result, model, tok, tables


def strict_json(obj) -> str:
    """Strict JSON: NaN (a metric with one class only, e.g. AUROC of a season without sweeps) -> null."""
    from genolm.io.atomic import json_safe

    return json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n"


def _date_text(d) -> str:
    return f"{d.year}" + (f"-{d.month:02d}" if d.month else "") + (f"-{d.day:02d}" if d.day else "")


def write_season(out: Path, result: dict, model, tok, tables: dict, data, args) -> None:
    """forecast.json, mutations.parquet, candidates.tsv, landscape.png and checkpoint/ into ``out``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genolm.train import checkpoint

    (out / "forecast.json").write_text(strict_json(result))
    muts, scores, truth = tables["muts"], tables["scores"], tables["truth"]
    cols = {"codon": [j + 1 for j, _ in muts], "ref_aa": [str(tables["cons"][j]) for j, _ in muts],
            "alt_aa": [a for _, a in muts], "mutation": tables["names"],
            **{k.replace(" ", "_").replace("+", "plus").replace("-", "_"): v.astype(np.float32) for k, v in scores.items()}}
    if truth is not None:
        cols["swept"] = truth
    pq.write_table(pa.table(cols), out / "mutations.parquet")
    base = tables["base"]
    with open(out / "candidates.tsv", "w") as f:
        f.write("id\tdate\tgenolm_bits_per_base\tlbi\tprofile_closeness" +
                ("\tmean_aa_distance_to_target" if tables["to_target"] is not None else "") + "\n")
        for r, i in enumerate(base["candidates"]):
            f.write(f"{data.ids[i]}\t{_date_text(data.dates[i])}\t{tables['bits'][r]:.6f}\t{base['lbi'][r]:.6f}\t"
                    f"{base['profile_closeness'][r]:.4f}" +
                    (f"\t{tables['to_target'][r]:.4f}" if tables["to_target"] is not None else "") + "\n")
    figures.evolve_landscape(muts, scores["genolm"], truth, tables["cons"], result, out / "landscape.png")
    config = {"model": model.config.to_dict(), "objective": "clm", "window": model.config.max_len,
              "command": "evolve", "trained_until": result["until"],
              "args": {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}}
    tok.save(out / "tokenizer.json")
    checkpoint.save_checkpoint(out, state_dict=model.state_dict(), config=config,
                               tokenizer=out / "tokenizer.json", train_state={"step": args.steps},
                               meta={"step": args.steps, "objective": "clm", "command": "evolve"})
    (out / "tokenizer.json").unlink()


# ---- many seasons --------------------------------------------------------------------------------

def parse_range(text: str) -> list[int]:
    try:
        first, last = (int(x) for x in text.split("-"))
    except ValueError:
        raise GenolmError("--backtest takes a range of years", found=repr(text), expected="FIRST-LAST, e.g. 2001-2010")
    if last < first:
        raise GenolmError("--backtest range runs backwards", found=text)
    return list(range(first, last + 1))


def summarize(results: list[dict]) -> dict:
    """Per-season table and mean ± sd over the seasons of every strain and mutation pick."""
    seasons = [r for r in results if "evaluation" in r]
    strain = list(seasons[0]["evaluation"]["strain_pick"]) if seasons else []
    mutation = list(seasons[0]["evaluation"]["mutation_pick"]) if seasons else []

    def stat(values):
        v = np.array([x for x in values if x is not None and not math.isnan(x)])
        return {"mean": float(v.mean()) if len(v) else float("nan"), "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                "n": int(len(v))}

    return {
        "seasons": [r["predict"] for r in seasons],
        "strain_pick": {k: stat([r["evaluation"]["strain_pick"][k] for r in seasons]) for k in strain},
        "auroc": {k: stat([r["evaluation"]["mutation_pick"][k]["auroc"] for r in seasons]) for k in mutation},
        "precision@10": {k: stat([r["evaluation"]["mutation_pick"][k]["precision@10"] for r in seasons]) for k in mutation},
        "precision@10_ceiling": stat([r["evaluation"]["precision@10_ceiling"] for r in seasons]),
        "population_distance": {k: stat([r["evaluation"]["population_distance"][k] for r in seasons])
                                for k in (seasons[0]["evaluation"]["population_distance"] if seasons else {})},
        "sweeps": sum(len(r["evaluation"]["sweeps"]) for r in seasons),
        "sweeps_unseen_last_season": sum(r["evaluation"]["sweeps_unseen_last_season"] for r in seasons),
        "unseen_sweeps_in_genolm_top_50": sum(r["evaluation"]["unseen_sweeps_in_genolm_top_50"] for r in seasons),
        "unseen_sweeps": [{"season": r["predict"], **s} for r in seasons for s in r["evaluation"]["sweeps"]
                          if s["unseen_last_season"]],
    }


# ---- the command ---------------------------------------------------------------------------------

def run(args: EvolveArgs) -> dict:
    from genolm.evolution.baselines import proteins
    from genolm.io.atomic import atomic_dir
    from genolm.train.distributed import resolve_device

    device = resolve_device(args.device)
    data = read_dated(args)
    prot = proteins(in_frame(data.seqs, args.frame), args.table)
    seasons = [(args.until, args.predict or args.until + 1)] if args.backtest is None else \
        [(y - 1, y) for y in parse_range(args.backtest)]
    replaceable = lambda p: (p / "forecast.json").is_file() or (p / "summary.json").is_file()  # noqa: E731
    results, fitness_cache = [], {}  # a season's fitness terms serve every later forecast of a backtest
    with atomic_dir(args.out, replaceable=replaceable) as tmp:
        for until, predict in seasons:
            r, model, tok, tables = forecast(data, until, predict, args, device, prot, fitness_cache)
            folder = tmp if args.backtest is None else tmp / f"season_{predict}"
            folder.mkdir(exist_ok=True)
            write_season(folder, r, model, tok, tables, data, args)
            results.append(r)
            if args.backtest is not None:
                print(season_line(r), file=sys.stderr, flush=True)
        if args.backtest is not None:
            summary = summarize(results)
            (tmp / "summary.json").write_text(strict_json({"summary": summary, "seasons": results}))
            (tmp / "summary.tsv").write_text(summary_tsv(results))
            if summary["seasons"]:
                figures.evolve_seasons(results, tmp / "seasons.png")
            return {"summary": summary, "seasons": results}
    return results[0]


def season_line(r: dict) -> str:
    if "evaluation" not in r:
        return f"{r['predict']}: strain pick {r['strain_pick']['genolm']}"
    e = r["evaluation"]
    return (f"{r['predict']}: strain pick " + ", ".join(f"{k} {v:.2f}" for k, v in e["strain_pick"].items()) +
            " | p@10 " + ", ".join(f"{k} {v['precision@10']:.1f}" for k, v in e["mutation_pick"].items()) +
            f" | sweeps {len(e['sweeps'])} ({e['sweeps_unseen_last_season']} unseen)")


def summary_tsv(results: list[dict]) -> str:
    rows = [r for r in results if "evaluation" in r]
    if not rows:
        return "season\n" + "".join(f"{r['predict']}\n" for r in results)
    strain = list(rows[0]["evaluation"]["strain_pick"])
    mutation = list(rows[0]["evaluation"]["mutation_pick"])
    head = (["season", "candidates", "sweeps", "unseen_sweeps"] + [f"strain:{k}" for k in strain] +
            [f"auroc:{k}" for k in mutation] + [f"p@10:{k}" for k in mutation] + ["p@10:ceiling"])
    lines = ["\t".join(head)]
    for r in rows:
        e = r["evaluation"]
        vals = [r["predict"], r["candidates"], len(e["sweeps"]), e["sweeps_unseen_last_season"]] + \
            [e["strain_pick"][k] for k in strain] + [e["mutation_pick"][k]["auroc"] for k in mutation] + \
            [e["mutation_pick"][k]["precision@10"] for k in mutation] + [e["precision@10_ceiling"]]
        lines.append("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in vals))
    return "\n".join(lines) + "\n"


def print_summary(s: dict, where: str) -> None:
    """The backtest's table: mean ± sd over the seasons of every pick."""
    print(f"{where}: {len(s['seasons'])} seasons ({s['sweeps']} sweeps, {s['sweeps_unseen_last_season']} unseen "
          f"the season before; genolm ranks {s['unseen_sweeps_in_genolm_top_50']} of those in its top 50)")
    print(f"{'':28s} {'strain pick':>18s} {'AUROC':>14s} {'precision@10':>14s}")

    def cell(v):
        return f"{v['mean']:.3f} ± {v['sd']:.3f}" if v else "-"

    for k in dict.fromkeys(list(s["strain_pick"]) + list(s["auroc"])):
        print(f"{k:28s} {cell(s['strain_pick'].get(k)):>18s} {cell(s['auroc'].get(k)):>14s} "
              f"{cell(s['precision@10'].get(k)):>14s}")
    print(f"{'ceiling':28s} {'':>18s} {'':>14s} {s['precision@10_ceiling']['mean']:>14.3f}")
    if s.get("population_distance"):
        print("predicted population's mean amino-acid distance to the next season (lower is better): " +
              ", ".join(f"{k} {v['mean']:.2f}" for k, v in s["population_distance"].items()))
