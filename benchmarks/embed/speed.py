"""Embedding speed: genolm's Embedder vs Hugging Face EsmModel of the same shape, one run.

  python benchmarks/embed/speed.py --device cuda --flavor base --n 4096 --length 1000 --compile
  python benchmarks/embed/speed.py --device cpu --flavor tiny --n 256 --length 1000 --reads data/camisim_reads.fasta.gz
  python benchmarks/embed/speed.py --device cuda --flavor base --reads data/H.Pylori__G27.fasta.gz --fragments 50-1000
  SMOKE=1 python benchmarks/embed/speed.py             # debug flavor on the CPU: 8 x 300 bp, 200 CAMISIM reads

Case 1, sequences of one length (default 1 kb, random bases): sequences/s of
  genolm   a bidirectional genolm transformer of --flavor (random weights, char tokens), embedded
           with genolm.infer.embedding.Embedder (token-budget batches, bf16 on GPU, mean pooling);
  hf-esm   transformers.EsmModel of the same width, depth and heads (GELU MLP of 4 d, rotary
           positions, single-letter tokens plus <cls>/<eos>), padded batches of --hf-batch
           sequences, bf16 on GPU, SDPA attention, mean pooling over the sequence's tokens.
Case 2 (--reads FILE): reads of mixed length from a FASTA/FASTQ file (or, with --fragments LO-HI,
  a genome cut into pieces of random lengths), useful bases/s of genolm's length-sorted batches
  vs the same model on batches padded in file order.
Prints a table; writes --out/embed_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.infer.embedding import Embedder  # noqa: E402
from genolm.model import build_model, config_for  # noqa: E402
from genolm.tokenize import PAD, get_tokenizer  # noqa: E402


def genolm_embedder(flavor: str, max_len: int, device: str) -> Embedder:
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    cfg = config_for(flavor, vocab_size=tok.vocab_size, causal=False, max_len=max_len)
    model = build_model(cfg).to(device).eval()
    return Embedder(model.backbone, lambda s: np.asarray(tok.encode(s), np.int64), pad_id=PAD, max_len=max_len,
                    n_layers=cfg.n_layers, hidden_size=cfg.d_model, source="random", kind="genolm transformer mlm",
                    alphabet="dna", device=device)


def hf_esm(flavor: str, max_len: int, device: str):
    from transformers import EsmConfig, EsmModel

    cfg = config_for(flavor, vocab_size=16)
    torch.manual_seed(0)
    model = EsmModel(EsmConfig(vocab_size=16, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layers,
                               num_attention_heads=cfg.n_heads, intermediate_size=4 * cfg.d_model,
                               max_position_embeddings=max_len + 2, position_embedding_type="rotary",
                               pad_token_id=1, mask_token_id=2, attn_implementation="sdpa"),
                     add_pooling_layer=False)
    return model.to(device).eval()


ESM_IDS = np.full(256, 3, np.int64)  # <unk>
for i, c in enumerate("ACGTN"):
    ESM_IDS[ord(c)] = 5 + i


@torch.no_grad()
def hf_embed(model, seqs: list[str], batch: int, device: str) -> np.ndarray:
    out = []
    for lo in range(0, len(seqs), batch):
        rows = [np.r_[0, ESM_IDS[np.frombuffer(s.encode(), np.uint8)], 2] for s in seqs[lo: lo + batch]]
        width = max(map(len, rows))
        ids = torch.ones((len(rows), width), dtype=torch.long)
        for r, x in enumerate(rows):
            ids[r, : len(x)] = torch.from_numpy(x)
        ids = ids.to(device)
        mask = ids != 1
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            h = model(input_ids=ids, attention_mask=mask.long()).last_hidden_state.float()
        keep = (mask & (ids > 2))[..., None].float()
        out.append(((h * keep).sum(1) / keep.sum(1)).cpu().numpy())
    return np.concatenate(out)


def timed(fn, device: str, repeat: int = 2) -> float:
    fn()  # warm-up
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--flavor", default="tiny")
    ap.add_argument("--n", type=int, default=512, help="sequences in case 1")
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--batch-tokens", type=int, default=None, help="genolm (default 65536 GPU, 16384 CPU)")
    ap.add_argument("--hf-batch", type=int, default=32, help="HF sequences per padded batch")
    ap.add_argument("--reads", default=None, help="FASTA/FASTQ of mixed-length reads (case 2)")
    ap.add_argument("--max-reads", type=int, default=20000)
    ap.add_argument("--fragments", default=None, metavar="LO-HI",
                    help="cut --reads into consecutive pieces of random length LO..HI (e.g. a genome, 50-1000)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time both models under torch.compile")
    ap.add_argument("--profile", action="store_true",
                    help="GPU with --compile: also profile 8 batches of compiled genolm (kernel time vs wall)")
    ap.add_argument("--out", default=str(OUT))
    if SMOKE:
        ap.set_defaults(device="cpu", flavor="debug", n=8, length=300, reads=str(ROOT / "data" / "camisim_reads.fasta.gz"),
                        max_reads=200, repeat=1)
    args = ap.parse_args()
    dev = args.device
    budget = args.batch_tokens or (65536 if dev.startswith("cuda") else 16384)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.n)]
    max_len = max(1024, args.length + 8)
    emb = genolm_embedder(args.flavor, max_len, dev)
    esm = hf_esm(args.flavor, max_len, dev)
    rows = []

    def add(row: dict) -> None:  # printed as it is measured: a timed-out run still leaves its figures
        rows.append(row)
        print(f"{row['case']:36s} {row['seqs_per_s']:10,.0f} seqs/s {row['bases_per_s']:15,.0f} useful bases/s", flush=True)
    t = timed(lambda: emb.embed(seqs, batch_tokens=budget), dev, args.repeat)
    add({"case": f"genolm, {args.length} bp", "seqs_per_s": len(seqs) / t, "bases_per_s": len(seqs) * args.length / t})
    t = timed(lambda: hf_embed(esm, seqs, args.hf_batch, dev), dev, args.repeat)
    add({"case": f"hf-esm, {args.length} bp", "seqs_per_s": len(seqs) / t, "bases_per_s": len(seqs) * args.length / t})
    if args.compile:
        compiled = genolm_embedder(args.flavor, max_len, dev).compile()
        t = timed(lambda: compiled.embed(seqs, batch_tokens=budget), dev, args.repeat)
        add({"case": f"genolm + compile, {args.length} bp", "seqs_per_s": len(seqs) / t,
                     "bases_per_s": len(seqs) * args.length / t})
        esm_c = torch.compile(esm)
        t = timed(lambda: hf_embed(esm_c, seqs, args.hf_batch, dev), dev, args.repeat)
        add({"case": f"hf-esm + compile, {args.length} bp", "seqs_per_s": len(seqs) / t,
                     "bases_per_s": len(seqs) * args.length / t})
        if args.profile and dev.startswith("cuda"):
            sys.path.insert(0, str(ROOT / "benchmarks" / "pretrain"))
            from throughput import profile_steps

            part = seqs[: max(1, budget // args.length) * 8]  # 8 full batches
            t = timed(lambda: compiled.embed(part, batch_tokens=budget), dev, 1)
            print(f"\ncompiled genolm, {len(part)} x {args.length} bp: {t * 1e3:.1f} ms wall per call")
            print(profile_steps(lambda _: compiled.embed(part, batch_tokens=budget), None, steps=1), flush=True)
        emb = compiled  # the reads case runs the faster genolm
    hf = next(r["seqs_per_s"] for r in rows if r["case"].startswith("hf-esm,"))
    for r in rows:
        r["vs_hf_eager"] = r["seqs_per_s"] / hf
    if args.reads:
        from genolm.io.seqio import read_records

        reads = [r.seq.upper() for _, r in zip(range(args.max_reads), read_records(args.reads))]
        if args.fragments:  # cut the records into pieces of random lengths (real sequence, mixed lengths)
            lo, hi = map(int, args.fragments.split("-"))
            text, frags, pos = "".join(reads), [], 0
            while len(frags) < args.max_reads and pos + hi <= len(text):
                n = int(rng.integers(lo, hi + 1))
                frags.append(text[pos: pos + n])
                pos += n
            reads = frags
        bases = sum(map(len, reads))
        t = timed(lambda: emb.embed(reads, batch_tokens=budget), dev, args.repeat)
        add({"case": "genolm reads, length-sorted", "seqs_per_s": len(reads) / t, "bases_per_s": bases / t})
        per_batch = max(1, budget // max(map(len, reads)))

        def in_file_order():  # the same model, padded batches of consecutive reads (each call: one batch)
            for lo in range(0, len(reads), per_batch):
                emb.embed(reads[lo: lo + per_batch], batch_tokens=budget)
        t = timed(in_file_order, dev, args.repeat)
        add({"case": "genolm reads, padded in file order", "seqs_per_s": len(reads) / t, "bases_per_s": bases / t})
    print(f"\n{args.flavor}, {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':36s} {'seqs/s':>10s} {'useful bases/s':>15s} {'vs HF':>6s}")
    for r in rows:
        vs = f"{r['vs_hf_eager']:6.2f}" if "vs_hf_eager" in r else ""
        print(f"{r['case']:36s} {r['seqs_per_s']:10,.0f} {r['bases_per_s']:15,.0f} {vs:>6s}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"embed_{dev.split(':')[0]}.json").write_text(json.dumps(
        {"benchmark": "embed", "date": time.strftime("%Y-%m-%d"), "device": dev, "flavor": args.flavor,
         "torch": torch.__version__, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
