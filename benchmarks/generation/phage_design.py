"""Whole phage genomes: train a whole-genome model on the phiX174 family, design --num genomes
with `genolm design` (the funnel at each stage), and measure the viability score on the
validation set (held-out natural isolates against damaged copies of them), in one run.

  python benchmarks/generation/phage_design.py --device cuda --minutes 1 --num 1000 --out OUT
  SMOKE=1 python benchmarks/generation/phage_design.py      # debug model, 4 designs, on the CPU

1. Corpus: the 134 phiX174-family genomes Evo was fine-tuned on (data/microviridae/), each turned
   to phiX174's strand and first base.  Circular genomes have no first base; one canonical start
   gives the model one gene order from one place, so every generation starts where phiX174 does
   and the funnel compares like with like.  The 16 wild isolates of Rokyta et al. 2006 are kept
   out of training (the nearest training genome is at most 98.4% identical to any of them).
2. A `--flavor` transformer trained for `--minutes` on windows of `--window` tokens (a whole
   genome with room to spare).
3. `genolm design --num N` against phiX174 (its genes, spike protein G) and the training genomes;
   genomes per minute of generation.
4. The viability score's validation set: the isolates (viable) and 2 damaged copies of each per
   damage type; cross-validated AUROC per damage type, combined and per component.

Writes OUT/phage_design.json (and the design and run folders) after each step, so a run cut short
keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

import numpy as np  # noqa: E402

from genolm.bio.circular import in_register  # noqa: E402
from genolm.cli import main as genolm  # noqa: E402
from genolm.generation.funnel import read_genomes, Reference  # noqa: E402
from genolm.io.seqio import read_records, write_fasta  # noqa: E402

MICRO = ROOT / "data" / "microviridae"
PHIX, GFF, SPIKE = MICRO / "NC_001422_1.fna.gz", MICRO / "NC_001422.1_pseudocircular.gff", MICRO / "NC_001422.1_Gprotein.fasta.gz"
TRAIN, HELD_OUT = MICRO / "phage_sft_genomes_phix174_variants.fna.gz", MICRO / "rokyta2006_phix174like_genomes.fasta.gz"


def run(argv: list) -> None:
    code = genolm([str(a) for a in argv])
    if code:
        raise SystemExit(f"genolm {argv[0]} failed ({code})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--flavor", default="small")
    ap.add_argument("--minutes", type=float, default=1.0, help="training time")
    ap.add_argument("--window", type=int, default=8192, help="tokens per training window")
    ap.add_argument("--batch-size", type=int, default=8, help="windows per training step")
    ap.add_argument("--num", type=int, default=1000, help="genomes to design")
    ap.add_argument("--design-batch", type=int, default=250, help="genomes sampled together")
    ap.add_argument("--copies", type=int, default=2, help="damaged copies per isolate and damage type")
    ap.add_argument("--out", default=str(OUT / "phage_design"))
    if SMOKE:
        ap.set_defaults(flavor="debug", minutes=None, window=512, batch_size=2, num=3, design_batch=3, copies=1,
                        device="cpu")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"args": vars(args)}

    def save() -> None:
        (out / "phage_design.json").write_text(json.dumps(result, indent=1, default=float) + "\n")

    # 1. the corpus, turned to phiX174's start
    ref = Reference.load(str(PHIX), str(GFF), str(SPIKE))
    ids, genomes = read_genomes(str(TRAIN))
    turned = [in_register(g, ref.genome)[0] for g in genomes]
    write_fasta(list(zip(ids, turned)), out / "train_turned.fasta")
    run(["prepare", out / "train_turned.fasta", "--out", out / "corpus", "--window", args.window,
         "--val-fraction", "0.05", "--no-progress"])
    # 2. the model
    t = time.perf_counter()
    budget = ["--steps", "4"] if args.minutes is None else ["--minutes", args.minutes, "--steps", "100000"]
    run(["pretrain", "--data", out / "corpus", "--out", out / "run", "--model", args.flavor, "--batch-size",
         args.batch_size, "--lr", "1e-3", "--device", args.device, "--eval-every", "1000000", "--no-progress", *budget])
    metrics = [json.loads(x) for x in (out / "run" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    result["train"] = {"seconds": time.perf_counter() - t, "last": metrics[-1] if metrics else None}
    save()
    # 3. the designs
    run(["design", "--model", out / "run", "--num", args.num, "--batch-size", args.design_batch, "--reference", PHIX,
         "--annotation", GFF, "--spike", SPIKE, "--train", TRAIN, "--keep", 20, "--device", args.device,
         "--out", out / "designs", "--no-progress"] + (["--min-length", 100] if SMOKE else []))
    s = json.loads((out / "designs" / "summary.json").read_text())
    result["design"] = {k: s[k] for k in ("generated", "passed", "kept", "clusters", "clusters_kept", "funnel",
                                          "generation_seconds", "seconds", "length")}
    result["design"]["genomes_per_minute"] = s["generated"] / max(s["generation_seconds"], 1e-9) * 60
    save()
    # 4. the viability score on the validation set
    from genolm.generation.viability_score import components, Context, validation_set, ViabilityScore
    from genolm.model.markov import MarkovModel
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    _, isolates = read_genomes(str(HELD_OUT))
    lam = next(iter(read_records(ROOT / "data" / "lambda.fasta.gz", case="upper"))).seq
    v = validation_set(isolates[:2] if SMOKE else isolates, ref, np.random.default_rng(0), others=[lam],
                       copies=args.copies)
    device = resolve_device(args.device)
    model, tok, _ = load_model(out / "run", device)
    ctx = Context(ref, turned, MarkovModel(max_order=5 if SMOKE else 8).fit(turned), (model, tok, device))
    t = time.perf_counter()
    comp = components(v["seqs"], ctx)
    score = ViabilityScore.fit(comp, np.array(v["viable"]), v["kind"], np.array(v["group"]), folds=2 if SMOKE else 4)
    (out / "viability_score.json").write_text(score.to_json() + "\n")
    result["viability"] = score.validation | {"seconds": time.perf_counter() - t}
    save()

    print(f"\nmodel: {args.flavor}, {result['train']['seconds']:.0f} s of training; designs: "
          f"{s['generated']} genomes of {s['length']:,} bases, {result['design']['genomes_per_minute']:.0f} per minute")
    print(f"{'stage':14s} {'passing':>8s} {'so far':>8s}")
    for row in s["funnel"]:
        print(f"{row['stage']:14s} {row['passing']:8d} {row['passing_so_far']:8d}")
    print(f"clusters at 99%: {s['clusters']} among {s['passed']} passing")
    val = result["viability"]
    names = list(val["components"])
    print(f"\nviability score, cross-validated AUROC ({val['n_viable']} isolates, {val['n_damaged']} damaged copies; "
          f"chosen: {val['chosen']})")
    print(f"{'damage':18s} {'combined':>9s} " + " ".join(f"{n:>13s}" for n in names))
    for k in val["combined"]:
        print(f"{k:18s} {val['combined'][k]:9.3f} " + " ".join(f"{val['components'][n][k]:13.3f}" for n in names))


if __name__ == "__main__":
    main()
