"""Held-out bits per base of a transformer, an LSTM, a CNN and a Markov model on honest splits of the
16 bacteria, all trained with the same token budget — through genolm's own commands.

  python benchmarks/pretrain/bacteria_bits.py --split region --model small --tokens 100e6 --device cuda
  python benchmarks/pretrain/bacteria_bits.py --split species --model debug --tokens 2e5 --window 256   # quick, CPU
  SMOKE=1 python benchmarks/pretrain/bacteria_bits.py  # region split of 9 random 20 kb genomes, debug models,
                                                       # 20,480 tokens each, Markov k <= 3, on the CPU

Splits of --data (bacteria/*.fasta.gz; the species is the file name before ``__``):

  region   (a) unseen region: train on the first 90% of every record of all 16 genomes
               (``prepare --split region --val-fraction 0.1``); test on the last 10% of the
               H. pylori and S. aureus records (a corpus of those files made the same way; its
               validation split is exactly those tails, never trained on).
  species  (b) unseen species: train on E. coli + H. pylori + S. aureus (their last 5% validates
               during training); test on the V. cholerae genomes (``--val-fraction 1``).

For each family the script runs ``genolm pretrain`` for ceil(tokens / (batch x window)) steps, then
``genolm evaluate`` on the test corpus (every test window, non-overlapping, next-token bits per
base), and ``genolm evaluate --markov K --markov-data TRAIN`` fits the Markov baseline on the same
training bases (CPU, alongside).  Prints a table (model, params, tokens seen, wall time, bits per
base) and writes --out/bacteria_<split>.json after every model, so a cut-off run keeps what it did.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write
TRAIN = {"region": None, "species": ("E.Coli", "H.Pylori", "S.Aureus")}  # None: every genome
TEST = {"region": ("H.Pylori", "S.Aureus"), "species": ("V.Cholerae",)}
LABEL = {"region": "(a) unseen region", "species": "(b) unseen species"}


def genolm(*args: str, log: Path | None = None, env: dict | None = None) -> str:
    """Run ``python -m genolm ARGS`` from this source tree; stdout is returned (and logged)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    res = subprocess.run([sys.executable, "-m", "genolm", *map(str, args)], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if log:
        with open(log, "a") as f:
            f.write(f"$ genolm {' '.join(map(str, args))}\n{res.stdout}{res.stderr[-4000:]}\n")
    if res.returncode:
        sys.exit(f"genolm {args[0]} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return res.stdout


def files_of(data: Path, species) -> list[Path]:
    files = sorted(data.glob("*.fasta.gz"))
    return [f for f in files if species is None or f.name.split("__")[0] in species]


def read_tsv(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    keys = lines[0].split("\t")
    return [dict(zip(keys, line.split("\t"))) for line in lines[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "genomes" / "bacteria"))
    ap.add_argument("--split", choices=("region", "species"), required=not SMOKE)
    ap.add_argument("--families", default="transformer,cnn,lstm", help="comma-separated; '' for none (Markov only)")
    ap.add_argument("--tag", default="", help="suffix of the output names (runs of one split side by side)")
    ap.add_argument("--model", default="small", help="flavor of every family (default: small)")
    ap.add_argument("--tokens", type=float, default=100e6, help="training tokens per model (default: 1e8)")
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=128, help="windows per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--markov", type=int, default=12, help="Markov order (0: none)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile the transformer and CNN")
    ap.add_argument("--workers", type=int, default=0, help="prepare's processes (0: one per core)")
    ap.add_argument("--work", default=None, help="corpora and runs (default: --out/work_<split>)")
    ap.add_argument("--out", default=str(OUT))
    if SMOKE:
        ap.set_defaults(split="region", data=None, model="debug", tokens=20480, lr=0.01, window=128, batch=4,
                        markov=3, device="cpu", workers=1)
    args = ap.parse_args()
    if args.data is None:  # SMOKE: random genomes named like the real ones
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        args.data = make(Path(args.out) / "smoke_inputs", ["genomes"]) / "genomes" / "bacteria"

    data, out = Path(args.data), Path(args.out)
    work = Path(args.work) if args.work else out / f"work_{args.split}{args.tag}"
    work.mkdir(parents=True, exist_ok=True)
    log = out / f"bacteria_{args.split}{args.tag}.log"
    result_path = out / f"bacteria_{args.split}{args.tag}.json"
    train_files, test_files = files_of(data, TRAIN[args.split]), files_of(data, TEST[args.split])
    if not train_files or not test_files:
        sys.exit(f"no genomes for split {args.split!r} in {data}")

    t0 = time.perf_counter()
    train_c, test_c = work / "train_corpus", work / "test_corpus"
    common = ["--window", args.window, "--workers", args.workers, "--no-progress"]
    genolm("prepare", *train_files, "--out", train_c, "--split", "region",
           "--val-fraction", 0.1 if args.split == "region" else 0.05, *common, log=log)
    if args.split == "region":
        genolm("prepare", *test_files, "--out", test_c, "--split", "region", "--val-fraction", 0.1, *common, log=log)
    else:
        genolm("prepare", *test_files, "--out", test_c, "--val-fraction", 1, *common, log=log)
    prep_s = time.perf_counter() - t0
    manifest = json.loads((train_c / "manifest.json").read_text())
    print(f"{LABEL[args.split]}: {len(train_files)} training genomes, {len(test_files)} test genomes; "
          f"prepared in {prep_s:.0f} s", flush=True)

    markov = None
    if args.markov:  # CPU only: runs while the GPU trains
        markov = subprocess.Popen(
            [sys.executable, "-m", "genolm", "evaluate", "--data", str(test_c), "--markov", str(args.markov),
             "--markov-data", str(train_c), "--out", str(work / "markov.tsv")],
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                 "CUDA_VISIBLE_DEVICES": ""},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    steps = max(1, math.ceil(args.tokens / (args.batch * args.window)))
    result = {"benchmark": "bacteria", "split": args.split, "label": LABEL[args.split],
              "date": datetime.date.today().isoformat(), "host": platform.node(),
              "device": args.device, "model": args.model, "window": args.window, "batch": args.batch,
              "steps": steps, "lr": args.lr, "train_files": [f.name for f in train_files],
              "test_files": [f.name for f in test_files], "prepare_s": round(prep_s, 1), "rows": []}
    try:
        if args.device != "cpu":  # (torch takes seconds to import: not for a CPU run)
            import torch

            if torch.cuda.is_available():
                result["card"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass

    def save() -> None:
        tmp = result_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(result_path)

    for family in filter(None, args.families.split(",")):
        run = work / f"run_{family}"
        t = time.perf_counter()
        genolm("pretrain", "--data", train_c, "--out", run, "--model", args.model, "--family", family,
               "--steps", steps, "--batch-size", args.batch, "--window", args.window, "--lr", args.lr,
               "--eval-every", max(1, steps // 5), "--eval-batches", 8, "--save-every", steps,
               "--log-every", max(1, steps // 50), "--device", args.device,
               *(["--compile"] if args.compile and family != "lstm" else []), log=log)
        wall = time.perf_counter() - t
        genolm("evaluate", "--data", test_c, run, "--device", args.device, "--batch-size", 32,
               "--out", work / f"eval_{family}.tsv", log=log)
        row = read_tsv(work / f"eval_{family}.tsv")[0]
        val = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        val = [m for m in val if "val_bpb" in m]
        result["rows"].append({"model": f"{family} {args.model}", "params": int(row["params"]),
                               "tokens_seen": int(row["tokens_seen"]), "train_s": float(row["train_s"]),
                               "wall_s": round(wall, 1), "test_bpb": float(row["val_bpb"]),
                               "scored_tokens": int(row["scored_tokens"]),
                               "train_side_val_bpb": val[-1]["val_bpb"] if val else None})
        save()
        print(f"  {family:12s} test {float(row['val_bpb']):.4f} bits/base  ({wall:.0f} s)", flush=True)

    if markov is not None:
        _, err = markov.communicate()
        if markov.returncode:
            print(f"Markov baseline failed: {err.strip()[-500:]}", file=sys.stderr)
        else:
            row = read_tsv(work / "markov.tsv")[0]
            result["rows"].append({"model": row["model"], "params": None, "tokens_seen": int(row["tokens_seen"]),
                                   "train_s": float(row["train_s"]), "wall_s": float(row["train_s"]),
                                   "test_bpb": float(row["val_bpb"]), "scored_tokens": int(row["scored_tokens"]),
                                   "train_side_val_bpb": None})
            save()
    result["total_s"] = round(time.perf_counter() - t0, 1)
    save()
    print(f"\n{LABEL[args.split]} — {result.get('card', args.device)}; training corpus "
          f"{manifest['splits']['train']['tokens']:,} tokens; window {args.window}, batch {args.batch}")
    print(f"{'model':24s} {'params':>11s} {'tokens seen':>12s} {'wall s':>7s} {'test bits/base':>14s}")
    for r in result["rows"]:
        params = f"{r['params']:,}" if r["params"] else "-"
        print(f"{r['model']:24s} {params:>11s} {r['tokens_seen']:>12,} {r['wall_s']:>7.0f} {r['test_bpb']:>14.4f}")


if __name__ == "__main__":
    main()
