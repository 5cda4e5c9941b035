"""Whole phage genomes: a base model pretrained on bacterial and phage genomes, fine-tuned on the
phiX174 family with early stopping; `genolm design` at a few sampling settings on a few hundred
genomes each, then --num genomes at the best (the funnel at each stage); and the viability score
on its validation set (held-out natural isolates against damaged copies of them), in one run.

  python benchmarks/generation/phage_design.py --device cuda --base ../shared/data/genomes/bacteria/*.fasta.gz \
      data/lambda.fasta.gz --base-minutes 3 --minutes 2 --num 1000 --out OUT
  SMOKE=1 python benchmarks/generation/phage_design.py      # debug models, a few designs, on the CPU

1. Corpus: the 134 phiX174-family genomes Evo was fine-tuned on (data/microviridae/), each turned
   to phiX174's strand and first base (`genolm prepare --rotate-to`).  Circular genomes have no
   first base; one canonical start gives the model one gene order from one place, so every
   generation starts where phiX174 does and ends where the model ends the record.  The 16 wild
   isolates of Rokyta et al. 2006 are kept out of both models (the nearest training genome is at
   most 98.4% identical to any of them); a tenth of the 134 (by a seeded hash) is the fine-tuning
   run's validation split, which early stopping (--patience) reads.
2. A `--flavor` transformer pretrained for `--base-minutes` on `--base` (windows of `--window`
   tokens: a whole genome with room to spare), then fine-tuned with `--init` for at most
   `--minutes`, keeping the checkpoint of its best validation.  With `--synonymous-copies 0,8`, one
   fine-tuned run without and one with 8 synonymously recoded copies of every training genome in
   its corpus (`prepare --synonymous-copies`): the 134 genomes are nearly one strain, and a model
   fitted to them puts its doubt anywhere, so the novel designs it samples carry missense changes
   and stops; the copies show it where a phiX174 genome may change and keep its proteins.  A
   comma-separated `--synonymous-rate` fine-tunes one run per rate.
3. `genolm design --num --sweep-num` for each fine-tuned run at each `--sweep` setting
   (temperature/top-p/min-p); the pair nearest both targets (a fifth of the designs passing every
   stage, in ten clusters or more; then the most passing) designs `--num` genomes against phiX174
   (its genes, spike protein G) and the training genomes; genomes per minute.
4. The viability score's validation set: the isolates (viable) and `--copies` damaged copies of
   each per damage type; cross-validated AUROC per damage type, combined and per component.

`--model RUN` skips 1-2 (a fine-tuned run from an earlier call), `--base-run RUN` skips the base
pretraining (fine-tunes from RUN), `--setting T/P/M` skips the sweep,
and `--stop-after train|sweep|design` ends early: a GPU session can train in one call and design in the
next.  Writes OUT/phage_design.json after each step, so a run cut short keeps what it measured.
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

from genolm.cli import main as genolm  # noqa: E402
from genolm.generation.funnel import Reference, read_genomes  # noqa: E402
from genolm.io.seqio import read_records  # noqa: E402

MICRO = ROOT / "data" / "microviridae"
PHIX, GFF, SPIKE = MICRO / "NC_001422_1.fna.gz", MICRO / "NC_001422.1_pseudocircular.gff", MICRO / "NC_001422.1_Gprotein.fasta.gz"
TRAIN, HELD_OUT = MICRO / "phage_sft_genomes_phix174_variants.fna.gz", MICRO / "rokyta2006_phix174like_genomes.fasta.gz"
BASE = [ROOT / "data" / "H.Pylori__G27.fasta.gz", ROOT / "data" / "lambda.fasta.gz"]  # the GPU run passes more
SWEEP = "1/0.95,1.5/1/0.05,2.5/1/0.05,2.5/1/0.02"  # temperature/top-p[/min-p]


def run(argv: list) -> None:
    code = genolm([str(a) for a in argv])
    if code:
        raise SystemExit(f"genolm {argv[0]} failed ({code})")


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--flavor", default="small")
    ap.add_argument("--base", nargs="+", default=[str(p) for p in BASE], help="FASTA files of the base model")
    ap.add_argument("--base-minutes", type=float, default=3.0, help="base pretraining time")
    ap.add_argument("--minutes", type=float, default=2.0, help="fine-tuning time at most")
    ap.add_argument("--patience", type=int, default=3, help="fine-tuning: validations without a new best")
    ap.add_argument("--eval-every", type=int, default=25, help="fine-tuning: steps between validations")
    ap.add_argument("--window", type=int, default=8192, help="tokens per training window")
    ap.add_argument("--batch-size", type=int, default=8, help="windows per training step")
    ap.add_argument("--synonymous-copies", default="0", help="comma-separated: one fine-tuned run for each, its "
                    "corpus holding this many synonymously recoded copies of every training genome (prepare "
                    "--synonymous-copies); the sweep tries every run")
    ap.add_argument("--synonymous-rate", default="0.08", help="share of a copy's synonymous sites changed; "
                    "comma-separated: one fine-tuned run for each (with each --synonymous-copies)")
    ap.add_argument("--base-run", help="a base run to fine-tune from: skip the base pretraining")
    ap.add_argument("--model", help="a fine-tuned run: skip the training")
    ap.add_argument("--sweep", default=SWEEP, help="temperature/top-p[/min-p] settings tried, comma-separated")
    ap.add_argument("--sweep-num", type=int, default=200, help="genomes designed at each setting")
    ap.add_argument("--setting", help="temperature/top-p[/min-p] of the final designs: skip the sweep")
    ap.add_argument("--num", type=int, default=1000, help="genomes to design at the chosen setting")
    ap.add_argument("--design-batch", type=int, default=250, help="genomes sampled together")
    ap.add_argument("--copies", type=int, default=2, help="damaged copies per isolate and damage type")
    ap.add_argument("--stop-after", choices=("train", "sweep", "design"), help="end after this step")
    ap.add_argument("--out", default=str(OUT / "phage_design"))
    if SMOKE:
        ap.set_defaults(flavor="debug", base_minutes=None, minutes=None, window=512, batch_size=2, num=3,
                        design_batch=3, copies=1, device="cpu", sweep="1/1,1.5/1/0.1", sweep_num=2, eval_every=2,
                        patience=1)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prior = out / "phage_design.json"
    result: dict = json.loads(prior.read_text()) if args.model and prior.is_file() else {}
    result["args"] = vars(args)

    def save() -> None:
        prior.write_text(json.dumps(result, indent=1, default=float) + "\n")

    def budget(minutes):
        return ["--steps", "4"] if minutes is None else ["--minutes", minutes, "--steps", "100000"]

    # 1-2. the models: a base model, then the phiX174 family from it (--init), early stopped; one
    # fine-tuned run per --synonymous-copies value (0: the genomes alone)
    copies = [int(x) for x in args.synonymous_copies.split(",")] if not args.model else [0]
    rates = args.synonymous_rate.split(",")
    variants = [(c, r) for c in copies for r in (rates if c else rates[:1])]

    def name(c, r):  # run_syn8, or run_syn8_r0.2 when several rates are tried
        return "run" if variants == [(0, rates[0])] else f"run_syn{c}" + (f"_r{r}" if c and len(rates) > 1 else "")
    models = {str(c) + (f"@{r}" if c and len(rates) > 1 else ""): Path(args.model) if args.model else out / name(c, r) for c, r in variants}
    if not args.model:
        base = Path(args.base_run) if args.base_run else out / "base"
        t = time.perf_counter()
        if not args.base_run:
            run(["prepare", *args.base, "--out", out / "base_corpus", "--window", args.window, "--split", "region",
                 "--val-fraction", "0.02", "--no-progress"])
            run(["pretrain", "--data", out / "base_corpus", "--out", base, "--model", args.flavor,
                 "--batch-size", args.batch_size, "--lr", "1e-3", "--device", args.device, "--eval-every", "200",
                 "--no-progress", *budget(args.base_minutes)])
        result["base"] = {"seconds": time.perf_counter() - t, "last": metrics(base)[-1], "run": str(base)}
        result["trains"] = {}
        for (c, rate), (key, model) in zip(variants, models.items()):
            t = time.perf_counter()
            corpus = out / f"corpus_{model.name}"
            run(["prepare", TRAIN, "--rotate-to", PHIX, "--out", corpus, "--window", args.window,
                 "--val-fraction", "0.1", "--no-progress"]
                + (["--annotation", GFF, "--synonymous-copies", c, "--synonymous-rate", rate] if c else []))
            run(["pretrain", "--data", corpus, "--out", model, "--init", base, "--batch-size",
                 args.batch_size, "--lr", "5e-4", "--device", args.device, "--eval-every", args.eval_every,
                 "--patience", args.patience, "--eval-batches", "4", "--no-progress", *budget(args.minutes)])
            rows = metrics(model)
            evals = [r for r in rows if "val_bpb" in r]
            best = min(evals, key=lambda r: r["val_loss"])
            result["trains"][key] = {
                "seconds": time.perf_counter() - t, "steps": max(r["step"] for r in rows),
                "best_step": best["step"], "best_val_bpb": best["val_bpb"],
                "validations": [(r["step"], r["val_bpb"]) for r in evals],
                "train_bpb_at_best": [r["loss"] / np.log(2) for r in rows  # the last logged at or before it
                                      if "loss" in r and r["step"] <= best["step"]][-1]}
            print(f"fine-tuned with {c} recoded copies per genome (rate {rate}), {result['trains'][key]['steps']} steps: "
                  f"validation {best['val_bpb']:.4f} bits/base at step {best['step']}")
        result["train"] = next(iter(result["trains"].values()))
        save()
        if args.stop_after == "train":
            return

    def design(where: Path, model: Path, num: int, setting: str, keep: int) -> dict:
        temperature, top_p, min_p = (setting.split("/") + ["0"])[:3]
        run(["design", "--model", model, "--num", num, "--batch-size", min(args.design_batch, num), "--reference",
             PHIX, "--annotation", GFF, "--spike", SPIKE, "--train", TRAIN, "--keep", keep, "--device", args.device,
             "--temperature", temperature, "--top-p", top_p, "--min-p", min_p, "--out", where, "--no-progress"]
            + (["--min-length", 100] if SMOKE else []))
        s = json.loads((where / "summary.json").read_text())
        r = {k: s[k] for k in ("generated", "passed", "kept", "clusters", "clusters_kept", "funnel",
                               "generation_seconds", "seconds", "median_length")}
        r["setting"], r["model"] = setting, model.name
        r["genomes_per_minute"] = s["generated"] / max(s["generation_seconds"], 1e-9) * 60
        import pyarrow.parquet as pq

        table = pq.read_table(where / "designs.parquet").to_pydict()
        r["identity_training_median"] = float(np.median(table["identity_training"]))
        r["biology_pass"] = int(np.all([table[f"pass_{x}"] for x in ("letters", "length", "gc", "homopolymer",
                                                                       "genes_present", "genes_intact", "gene_order",
                                                                       "spike")], 0).sum())
        return r

    # 3. the fine-tuning length and sampling setting, then the designs
    setting, model = args.setting, next(iter(models.values()))
    if setting is None:
        result["sweep"] = []
        for m in models.values():
            for sw in args.sweep.split(","):
                result["sweep"].append(design(out / f"sweep_{len(result['sweep'])}", m, args.sweep_num, sw, 5))
                save()

        def nearness(r):  # nearest both targets: a fifth passing every stage, in ten clusters or more
            return (min(r["passed"] / r["generated"] / 0.2, 1) + min(r["clusters"] / 10, 1), r["passed"])
        best = max(result["sweep"], key=nearness)
        setting, model = best["setting"], {m.name: m for m in models.values()}[best["model"]]
        print(f"\n{'model':>14s} {'setting':>11s} {'biology':>8s} {'passed':>7s} {'clusters':>9s} {'identity':>9s}")
        for r in result["sweep"]:
            print(f"{r['model']:>14s} {r['setting']:>11s} {r['biology_pass']:8d} {r['passed']:7d} {r['clusters']:9d} "
                  f"{r['identity_training_median']:9.4f}")
        print(f"chosen: {model.name} at {setting} (temperature/top-p/min-p)")
        if "trains" in result:
            result["train"] = result["trains"][next(k for k, m in models.items() if m == model)]
        result["chosen_model"] = str(model)
        save()
        if args.stop_after == "sweep":
            return
    result["design"] = design(out / "designs", model, args.num, setting, 20)
    s = result["design"]
    save()
    if args.stop_after == "design":
        print(f"\ndesigns at {setting}: {s['generated']} genomes (median {s['median_length']:,.0f} bases), "
              f"{s['genomes_per_minute']:.0f} per minute; {s['passed']} pass every stage, {s['clusters']} clusters")
        for row in s["funnel"]:
            print(f"{row['stage']:14s} {row['passing']:8d} {row['passing_so_far']:8d}")
        return
    # 4. the viability score on the validation set
    from genolm.bio.circular import in_register
    from genolm.generation.viability_score import Context, ViabilityScore, components, validation_set
    from genolm.model.markov import MarkovModel
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    ref = Reference.load(str(PHIX), str(GFF), str(SPIKE))
    _, isolates = read_genomes(str(HELD_OUT))
    lam = next(iter(read_records(ROOT / "data" / "lambda.fasta.gz", case="upper"))).seq
    v = validation_set(isolates[:2] if SMOKE else isolates, ref, np.random.default_rng(0), others=[lam],
                       copies=args.copies)
    device = resolve_device(args.device)
    turned = [in_register(g, ref.genome)[0] for g in read_genomes(str(TRAIN))[1]]
    lm, tok, _ = load_model(model, device)
    ctx = Context(ref, turned, MarkovModel(max_order=5 if SMOKE else 8).fit(turned), (lm, tok, device))
    t = time.perf_counter()
    comp = components(v["seqs"], ctx)
    score = ViabilityScore.fit(comp, np.array(v["viable"]), v["kind"], np.array(v["group"]), folds=2 if SMOKE else 4)
    (out / "viability_score.json").write_text(score.to_json() + "\n")
    result["viability"] = score.validation | {"seconds": time.perf_counter() - t}
    save()

    tr = result.get("train", {})
    print(f"\nmodel: {args.flavor}; fine-tuned {tr.get('steps')} steps, best validation at step {tr.get('best_step')} "
          f"({tr.get('best_val_bpb', float('nan')):.4f} bits/base); designs at {setting} (temperature/top-p/min-p): "
          f"{s['generated']} genomes (median {s['median_length']:,.0f} bases), {s['genomes_per_minute']:.0f} per minute")
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
