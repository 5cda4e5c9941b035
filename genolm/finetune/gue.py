"""Benchmark suites: fine-tune one model on every task of a suite (GUE: folders of train, dev
and test CSVs) over several seeds, and compare with the published figures (DNABERT-2 paper,
Table 4, MCC x 100).  Finished task/seed folders are reused.  The command is ``genolm bench``."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from genolm.errors import GenolmError
from genolm.finetune.finetune import FinetuneArgs, model_stamp
from genolm.finetune.finetune import run as finetune_run
from genolm.io.arguments import CommandArgs
from genolm.report import figures

# DNABERT-2 paper, Table 4 (MCC x 100): (DNABERT-2, NT-2500M-multi, DNABERT 6-mer).
PUBLISHED = {
    "tf/0": (71.99, 66.64, 66.84), "tf/1": (76.06, 70.28, 70.14), "tf/2": (66.52, 58.72, 61.03),
    "tf/3": (58.54, 51.65, 51.89), "tf/4": (77.43, 69.34, 70.97),
    "mouse/0": (56.76, 63.31, 44.42), "mouse/2": (79.32, 71.52, 71.44), "mouse/3": (66.47, 69.44, 44.89),
    "mouse/4": (52.66, 47.07, 42.48),
    "prom/prom_core_all": (69.37, 70.33, 68.90), "prom/prom_core_notata": (68.04, 71.58, 70.47),
    "prom/prom_core_tata": (74.17, 72.97, 76.06), "prom/prom_300_tata": (71.59, 79.43, 61.56),
}
SPLITS = {"train": ("train",), "val": ("dev", "val"), "test": ("test",)}


@dataclass(kw_only=True)
class BenchArgs(CommandArgs):
    """Options of ``genolm bench`` (see its --help)."""

    suite: str = "gue"
    model: str
    data: str
    tasks: list[str] | None = None
    seeds: int = 1
    first_seed: int = 0
    epochs: int = 10
    patience: int = 3
    min_steps: int = 0
    batch_size: int = 32
    lr: float | None = None
    lora: int = 0
    flavor: str = "tiny"
    freeze: bool = False
    pool: str = "mean"
    compile: bool = False
    collect: bool = False

    def check(self) -> None:
        if self.suite != "gue":
            self.fail("suite", "gue", self.suite)
        self.at_least("seeds", 1)
        self.at_least("first_seed", 0)


def split_file(folder: Path, split: str) -> Path | None:
    for stem in SPLITS[split]:
        for ext in (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet"):
            if (folder / f"{stem}{ext}").is_file():
                return folder / f"{stem}{ext}"
    return None


def find_tasks(data: Path, wanted: list[str] | None) -> dict[str, Path]:
    """name -> task folder, in a stable order."""
    if not data.is_dir():
        raise GenolmError("no such benchmark folder", file=data)
    folders = sorted({p.parent for p in data.rglob("*") if p.is_file()})
    found = {(str(f.relative_to(data)) if f != data else data.name): f for f in folders
             if all(split_file(f, s) for s in SPLITS)}
    if not wanted:
        if not found:
            raise GenolmError("no task folders found", file=data,
                              expected="folders holding train, dev and test CSVs (sequence,label)")
        return found
    tasks = {}
    for name in wanted:
        path = Path(name)
        if name in found:
            tasks[name] = found[name]
        elif path.is_dir() and all(split_file(path, s) for s in SPLITS):
            tasks[path.name] = path
        else:
            raise GenolmError("unknown task", found=name, expected=" | ".join(list(found)[:20]) or "task folders",
                              hint="name a task under --data, or give the path of a folder with train/dev/test CSVs")
    return tasks


def run(args: BenchArgs) -> list[dict]:
    """Fine-tune (or collect) every task and seed; the rows of results.tsv, the average last."""
    tasks = find_tasks(Path(args.data), args.tasks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, missing = [], []
    for name, folder in tasks.items():
        scores, vals, seconds = [], [], 0.0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            ft = FinetuneArgs(
                model=args.model, train=str(split_file(folder, "train")), val=str(split_file(folder, "val")),
                test=str(split_file(folder, "test")), labels=None, out=str(out / name / f"seed_{seed}"),
                task="classify", freeze=args.freeze, lora=args.lora, flavor=args.flavor, pool=args.pool,
                epochs=args.epochs, patience=args.patience, min_steps=args.min_steps,
                batch_size=args.batch_size, lr=args.lr,
                weight_decay=0.01, seed=seed, device=args.device, no_progress=args.no_progress,
                compile=args.compile)
            m = finished(ft) or (None if args.collect else finetune_run(ft))
            if m is None:
                continue
            scores.append(100 * m["test_mcc"])
            vals.append(100 * m["val_mcc"])
            seconds += m["train_seconds"]
        if not scores:
            missing.append(name)
            print(f"  {name:28s} no finished fine-tuning", flush=True)
            continue
        pub = PUBLISHED.get(name)
        rows.append({"task": name, "metric": "mcc_x100", "genolm": statistics.mean(scores),
                     "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0, "seeds": len(scores),
                     "dev": statistics.mean(vals), "dnabert2": pub[0] if pub else None,
                     "nt_2500m_multi": pub[1] if pub else None, "best_published": max(pub) if pub else None,
                     "seconds": round(seconds, 1)})
        print(f"  {name:28s} MCC {rows[-1]['genolm']:6.2f}" + (f"  (DNABERT-2 {pub[0]:.2f})" if pub else ""), flush=True)
        write_results(rows + [mean_row(rows)], out / "results.tsv")  # after every task: a killed run keeps them
    if not rows:
        raise GenolmError("no finished fine-tuning to collect", file=out,
                          hint="run the bench without --collect first (same settings)")
    rows.append(mean_row(rows))
    if missing:
        rows[-1]["task"] = f"average ({len(rows) - 1} of {len(tasks)} tasks)"
        write_results(rows, out / "results.tsv")
    (out / "run.json").write_text(json.dumps({k: v for k, v in vars(args).items() if not k.startswith("_")},
                                             indent=1, default=str) + "\n")
    figures.gue_results(rows, out / "results.png", str(args.model))
    return rows


# Settings that make two fine-tunings the same run (not where they write or how they report).
SAME_RUN = ("model", "train", "val", "test", "labels", "task", "freeze", "lora", "flavor", "pool", "epochs",
            "patience", "min_steps", "batch_size", "lr", "weight_decay", "seed")


def finished(ft: FinetuneArgs) -> dict | None:
    """The metrics of a fine-tuning already in ``ft.out`` with the same settings and model weights
    (an interrupted bench, or seeds run in parallel, continue without redoing it); None otherwise."""
    folder = Path(ft.out)
    try:
        done = json.loads((folder / "finetune.json").read_text())["args"]
        metrics = json.loads((folder / "metrics.json").read_text())
        stamp = json.loads((folder / "finetune.json").read_text()).get("model_stamp")
    except (OSError, ValueError, KeyError):
        return None
    defaults = {"min_steps": 0}  # settings added later: a folder written before them used the default
    if stamp != model_stamp(ft.model) or any(done.get(k, defaults.get(k)) != (str(v) if isinstance(v, Path) else v)
                                                      for k, v in vars(ft).items() if k in SAME_RUN):
        return None
    print(f"  {folder}: reusing the finished fine-tuning", flush=True)
    return metrics


KEYS = ["task", "metric", "genolm", "sd", "seeds", "dev", "dnabert2", "nt_2500m_multi", "best_published", "seconds"]


def write_results(rows: list[dict], path: Path) -> None:
    from genolm.io.atomic import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text("\t".join(KEYS) + "\n" + "".join("\t".join(cell(r[k]) for k in KEYS) + "\n" for r in rows))


def mean_row(rows: list[dict]) -> dict:
    """The average over tasks; published averages only over tasks that have published figures."""
    def avg(key):
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.mean(values) if values else None

    published = [r for r in rows if r["dnabert2"] is not None]
    return {"task": "average", "metric": "mcc_x100", "genolm": avg("genolm"), "sd": None, "seeds": rows[0]["seeds"],
            "dev": avg("dev"), "dnabert2": avg("dnabert2"), "nt_2500m_multi": avg("nt_2500m_multi"),
            "best_published": avg("best_published"), "seconds": round(sum(r["seconds"] for r in rows), 1),
            "note": f"published averages over {len(published)} of {len(rows)} tasks"}


def cell(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)
