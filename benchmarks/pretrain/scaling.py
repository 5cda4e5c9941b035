"""Multi-GPU scaling of `genolm pretrain` (DDP and FSDP2) and `genolm embed`, through torchrun.

  python benchmarks/pretrain/scaling.py --out OUT              # 1, 2, 4, 8 GPUs: as many as are present
  python benchmarks/pretrain/scaling.py --out OUT --xl         # + a model too large for DDP on one GPU
  SMOKE=1 python benchmarks/pretrain/scaling.py                # the same plan on a CPU (gloo), debug model:
      # --device cpu --gpus 1 2 999 --flavors debug --window 128 --steps 6 --warmup 2 --batch-per-gpu 2
      # --embed-fragments 60 --fragment-length 300 --timeout 300 (999 processes are never there: the "not measured" path)

The same script runs unchanged on any number of GPUs: it measures every count in --gpus that the
machine has (default 1 2 4 8) and says which it could not.

1. Weak scaling of pretraining.  A causal model trains on windows of --window tokens (default 4096)
   cut from real genomes (--genomes; default the repo's data/: phage lambda and two H. pylori), bf16
   on a GPU, --batch-per-gpu windows per GPU.  For each flavor (default base and large) and GPU
   count n: one process (n = 1), then DDP and FSDP2 (n >= 2), each a real `genolm pretrain` run
   (`--save-every 0`: nothing is written but metrics).  tokens/s is the median of the steps after
   --warmup (rank 0's clock, all GPUs' tokens); per GPU = tokens/s / n; scaling efficiency =
   per-GPU tokens/s on n / per-GPU tokens/s on 1, same flavor.  Peak memory is rank 0's
   torch.cuda.max_memory_allocated.
2. --xl: a model that does not fit one GPU with plain DDP (d_model 5120, 40 layers, about 12.6B
   parameters: fp32 weights, gradients and AdamW moments alone are 16 bytes a parameter, 200 GB):
   DDP on the most GPUs (expected: out of memory), then FSDP2 on the same GPUs, with the memory
   per GPU.
3. Embedding: `genolm embed` of --embed-fragments fragments of --fragment-length bases (cut from
   the genomes) with a `base` model, on each GPU count: sequences/s (the command's own timer,
   after the model is loaded), one Parquet file per count, and its vectors against the 1-GPU file
   (rows equal, largest difference).

NCCL's NVLink multicast stays off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
NVSHMEM_DISABLE_NVLS=1).  Writes OUT/scaling.json (default $BENCH_OUT/scaling, $BENCH_OUT defaulting
to benchmarks/out) and prints the tables (Markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
XL = {"d_model": 5120, "n_layers": 40, "n_heads": 40}


def available(device: str) -> int:
    if device == "cpu":
        return os.cpu_count() or 1
    import torch

    return torch.cuda.device_count()


def launch(n: int, argv: list[str], port: int) -> list[str]:
    """`python -m genolm ARGV` on one process, or under torchrun on n."""
    if n == 1:
        return [sys.executable, "-m", "genolm", *argv]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-port", str(port),
            "-m", "genolm", *argv]


class Runner:
    def __init__(self, args):
        self.args, self.port = args, 29400 + os.getpid() % 500
        self.env = {**os.environ, **NO_MULTICAST, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        if args.device == "cpu":
            self.env["OMP_NUM_THREADS"] = "1"

    def __call__(self, n: int, argv: list[str], log: Path) -> tuple[int, str, float]:
        self.port += 1
        t0 = time.perf_counter()
        try:
            r = subprocess.run(launch(n, argv, self.port), env=self.env, capture_output=True, text=True,
                               timeout=self.args.timeout)
            code, text = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as err:
            code, text = 124, f"timed out after {self.args.timeout} s\n{err.stdout or ''}{err.stderr or ''}"
        log.write_text(text)
        return code, text, time.perf_counter() - t0


def failure(code: int, text: str) -> str:
    if re.search(r"out of memory|OutOfMemoryError", text, re.I):
        return "out of memory"
    if code == 124:
        return "timed out"
    if code in (-9, 137) or re.search(r"exitcode\s*: -9|SIGKILL", text):
        return "killed (SIGKILL: out of host memory?)"
    # the child's own last error line, not torchrun's frame of "=" lines
    errors = [ln.strip() for ln in text.splitlines() if re.search(r"error", ln, re.I) and not ln.startswith(("E1", "W1"))
              and "ChildFailedError" not in ln and "error_file" not in ln]
    last = errors or [ln for ln in text.strip().splitlines() if ln.strip() and not set(ln.strip()) <= {"="}]
    return f"failed (rc {code}): {last[-1][:160] if last else ''}"


def train_speed(run: Path, warmup: int) -> dict:
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    steps = [r for r in rows if "loss" in r]
    speeds = [r["tokens_per_s"] for r in steps if r["step"] > warmup and r.get("tokens_per_s")]
    mem = max((r.get("max_memory_gb", 0.0) for r in steps), default=0.0)
    return {"tokens_per_s": statistics.median(speeds) if speeds else None, "timed_steps": len(speeds),
            "max_memory_gb": mem or None, "final_loss": steps[-1]["loss"] if steps else None}


def params_of(flavor: str, overrides: dict, vocab: int = 16) -> int:
    """Parameters of the model (built on the meta device: no memory)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from genolm.model import build_model, config_for

    with torch.device("meta"):
        model = build_model(config_for(flavor, family="transformer", vocab_size=vocab, causal=True, **overrides))
    return sum(p.numel() for p in model.parameters())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(OUT / "scaling"))
    p.add_argument("--genomes", nargs="+", default=[str(ROOT / "data" / f) for f in
                                                    ("lambda.fasta.gz", "H.Pylori__G27.fasta.gz",
                                                     "H.Pylori__SJM180.fasta.gz")])
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4, 8], help="process counts to measure")
    p.add_argument("--flavors", nargs="+", default=["base", "large"])
    p.add_argument("--strategies", nargs="+", default=["ddp", "fsdp"], choices=["ddp", "fsdp"])
    p.add_argument("--window", type=int, default=4096)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the timing")
    p.add_argument("--batch-per-gpu", type=int, default=4)
    p.add_argument("--compile", action="store_true", help="pretrain with torch.compile")
    p.add_argument("--xl", action="store_true", help="also the model too large for DDP (FSDP2 memory per GPU)")
    p.add_argument("--embed-fragments", type=int, default=40000, help="0: no embedding part")
    p.add_argument("--fragment-length", type=int, default=1000)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--timeout", type=int, default=900, help="seconds per run")
    if SMOKE:
        p.set_defaults(device="cpu", gpus=[1, 2, 999], flavors=["debug"], window=128, steps=6, warmup=2,
                       batch_per_gpu=2, embed_fragments=60, fragment_length=300, timeout=300)
    args = p.parse_args()
    out = Path(args.out)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    have = available(args.device)
    counts = [n for n in args.gpus if n <= have]
    skipped = [n for n in args.gpus if n > have]
    run = Runner(args)
    result = {"device": args.device, "devices_present": have, "counts": counts, "not_measured": skipped,
              "window": args.window, "batch_per_gpu": args.batch_per_gpu, "steps": args.steps,
              "warmup": args.warmup, "compile": args.compile, "train": [], "xl": [], "embed": []}
    if args.device == "cuda":
        import torch

        result["card"] = torch.cuda.get_device_name(0)
        result["torch"] = torch.__version__
    print(f"{args.device}: {have} present; measuring {counts}" + (f"; not here: {skipped}" if skipped else ""),
          flush=True)

    # --------------------------------------------------------------- corpus
    code, text, _ = run(1, ["prepare", *args.genomes, "--out", str(work / "corpus"), "--tokenizer", "char",
                            "--window", str(args.window), "--split", "region", "--val-fraction", "0.02",
                            "--no-progress"], work / "prepare.log")
    if code:
        print(text[-2000:], file=sys.stderr)
        return 1

    def pretrain(name, n, flavor, strategy, recipe=None):
        argv = ["pretrain", "--data", str(work / "corpus"), "--out", str(work / name), "--model", flavor,
                "--objective", "clm", "--steps", str(args.steps), "--batch-size", str(args.batch_per_gpu * n),
                "--log-every", "1", "--eval-every", str(10 * args.steps), "--eval-batches", "1", "--save-every", "0",
                "--device", args.device, "--parallel", strategy if n > 1 else "none"]
        if args.compile:
            argv.append("--compile")
        if recipe:
            argv += ["--config", str(recipe)]
        code, text, wall = run(n, argv, work / f"{name}.log")
        row = {"flavor": flavor, "strategy": strategy if n > 1 else "one process", "gpus": n, "wall_s": round(wall, 1)}
        if code == 0:
            row.update(train_speed(work / name, args.warmup))
        else:
            row["error"] = failure(code, text)
        shutil.rmtree(work / name, ignore_errors=True)
        return row

    # --------------------------------------------------------------- 1. weak scaling
    for flavor in args.flavors:
        base = None
        for n in counts:
            for strategy in (["one process"] if n == 1 else args.strategies):
                row = pretrain(f"{flavor}_{strategy.replace(' ', '_')}_{n}", n, flavor, strategy)
                row["params"] = params_of(flavor, {})
                if row.get("tokens_per_s"):
                    row["per_gpu"] = row["tokens_per_s"] / n
                    if n == 1:
                        base = row["per_gpu"]
                    if base:
                        row["efficiency"] = row["per_gpu"] / base
                result["train"].append(row)
                print(json.dumps(row), flush=True)

    # --------------------------------------------------------------- 2. too large for DDP
    if args.xl and counts:
        recipe = work / "xl.yaml"
        recipe.write_text("model_config:\n" + "".join(f"  {k}: {v}\n" for k, v in XL.items()))
        n = max(counts)
        for strategy in (["ddp", "fsdp"] if n > 1 else ["ddp"]):
            row = pretrain(f"xl_{strategy}_{n}", n, "large", strategy, recipe)
            row.update(flavor="xl " + "×".join(str(XL[k]) for k in ("n_layers", "d_model")), params=params_of("large", XL))
            result["xl"].append(row)
            print(json.dumps(row), flush=True)

    # --------------------------------------------------------------- 3. embedding
    if args.embed_fragments and counts:
        sys.path.insert(0, str(ROOT))
        from genolm.io.seqio import read_records

        frags, L = [], args.fragment_length
        for path in args.genomes:
            for rec in read_records(path, case="upper"):
                frags += [(f"{rec.id}:{i}", rec.seq[i: i + L]) for i in range(0, len(rec.seq) - L + 1, L)]
        frags = frags[: args.embed_fragments]
        fa = work / "fragments.fa"
        fa.write_text("".join(f">{i}\n{s}\n" for i, s in frags))
        flavor = "base" if args.device == "cuda" else args.flavors[0]
        code, text, _ = run(1, ["pretrain", "--data", str(work / "corpus"), "--out", str(work / "embed_model"),
                                "--model", flavor, "--objective", "clm", "--steps", "1", "--batch-size", "1",
                                "--device", args.device], work / "embed_model.log")
        if code:
            result["embed"].append({"error": failure(code, text)})
        first = None
        for n in counts if not code else []:
            pq_out = work / f"embed_{n}.parquet"
            code, text, wall = run(n, ["embed", str(fa), "--model", str(work / "embed_model"), "--out", str(pq_out),
                                       "--device", args.device, "--no-progress"], work / f"embed_{n}.log")
            row = {"gpus": n, "sequences": len(frags), "length": L, "wall_s": round(wall, 1)}
            m = re.search(r"([\d.]+) s, ([\d,]+) sequences/s", text)
            if code or not m:
                row["error"] = failure(code, text)
            else:
                row["seconds"], row["sequences_per_s"] = float(m.group(1)), float(m.group(2).replace(",", ""))
                import numpy as np
                import pyarrow.parquet as pq

                t = pq.read_table(pq_out, columns=["id", "embedding"])
                ids, vec = t.column("id").to_pylist(), np.asarray(t.column("embedding").to_pylist(), np.float32)
                if first is None:
                    first = (ids, vec, row["sequences_per_s"])
                row["same_ids_as_1"] = ids == first[0]
                row["identical_rows"] = int((vec == first[1]).all(axis=1).sum()) if ids == first[0] else 0
                row["max_abs_diff"] = float(np.abs(vec - first[1]).max()) if ids == first[0] else None
                row["speedup"] = row["sequences_per_s"] / first[2]
                row["efficiency"] = row["speedup"] / n
            result["embed"].append(row)
            print(json.dumps(row), flush=True)

    (out / "scaling.json").write_text(json.dumps(result, indent=1) + "\n")
    print_tables(result)
    return 0


def fmt(v, spec=",.0f"):
    return "-" if v is None else format(v, spec)


def print_tables(r: dict) -> None:
    print(f"\n{r.get('card', r['device'])}: window {r['window']}, {r['batch_per_gpu']} windows per GPU, "
          f"median of steps {r['warmup'] + 1}-{r['steps']}" + (f"; not measured (not present): {r['not_measured']} GPUs"
                                                                 if r["not_measured"] else ""))
    print("\n| model | params | strategy | GPUs | tokens/s | tokens/s per GPU | scaling efficiency | peak GB per GPU |")
    print("|---|---|---|---|---|---|---|---|")
    for x in r["train"] + r["xl"]:
        print(f"| {x['flavor']} | {x['params'] / 1e6:,.{0 if x['params'] >= 1e7 else 2}f}M | {x['strategy']} | {x['gpus']} | "
              + (f"{x['error']} | | | |" if "error" in x else
                 f"{fmt(x['tokens_per_s'])} | {fmt(x.get('per_gpu'))} | {fmt(x.get('efficiency'), '.1%')} | "
                 f"{fmt(x.get('max_memory_gb'), '.1f')} |"))
    if r["embed"]:
        print("\n| GPUs | sequences | sequences/s | speedup | efficiency | rows identical to 1 GPU | largest difference |")
        print("|---|---|---|---|---|---|---|")
        for x in r["embed"]:
            if "error" in x:
                print(f"| {x.get('gpus', '-')} | {x['error']} | | | | | |")
            else:
                print(f"| {x['gpus']} | {x['sequences']:,} | {x['sequences_per_s']:,.0f} | {x['speedup']:.2f} | "
                      f"{x['efficiency']:.1%} | {x['identical_rows']:,} of {x['sequences']:,} | {x['max_abs_diff']:.2g} |")


if __name__ == "__main__":
    sys.exit(main())
