"""The benchmark scripts run end to end on tiny CPU settings (their figures are in BENCHMARKS.md;
here only that every path works and writes what BENCHMARKS.md is built from)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def script(name: str, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                                               "PATH": "/usr/bin:/bin"})


def test_bench_pretrain_cpu_with_reads(tmp_path):
    res = script("bench_pretrain.py", "--device", "cpu", "--flavor", "debug", "--seq", "64", "--batch", "2",
                 "--steps", "1", "--warmup", "1", "--baselines", "--reads", "150", "30-60", "--reads-row", "512",
                 "--out", tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads((tmp_path / "pretrain_cpu.json").read_text())
    assert [r["case"] for r in out["rows"]] == ["genolm", "hf-llama", "genolm-lstm", "genolm-cnn"]
    reads = {r["case"]: r for r in out["reads"]}
    assert set(reads) == {"reads 150 bp: packed, dense mask", "reads 150 bp: padded",
                          "reads 30-60 bp: packed, dense mask", "reads 30-60 bp: padded"}
    assert reads["reads 150 bp: padded"]["useful_fraction"] == 1.0  # every read is 150 bp: no padding
    assert 0.4 < reads["reads 30-60 bp: padded"]["useful_fraction"] < 0.9
    assert all(r["useful_fraction"] > 0.7 for k, r in reads.items() if "packed" in k)
    assert "useful tok/s" in res.stdout


def test_packed_rows_keep_every_read_whole():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pretrain import packed_rows, read_lengths

    from genolm.tokenize import PAD, SEP

    lengths = read_lengths("20-90", 500)
    ids, docs, useful = packed_rows(lengths, 256, vocab=86)
    assert useful == int(lengths.sum()) + len(lengths)  # every base and one <sep> per read
    assert int((ids == SEP).sum()) == len(lengths)
    for r in range(len(ids)):  # a read never crosses a row: each document starts with its <sep>
        real = ids[r] != PAD
        starts = np.flatnonzero(np.diff(np.r_[-2, docs[r][real].numpy()]) != 0)
        assert (ids[r][real][starts] == SEP).all()


def fake_genome(path: Path, seed: int, n: int = 6000) -> None:
    seq = "".join(np.random.default_rng(seed).choice(list("ACGT"), n))
    with gzip.open(path, "wt") as f:
        f.write(f">chr{seed}\n{seq}\n")


@pytest.mark.parametrize("split", ["region", "species"])
def test_bench_bacteria_runs_every_family_and_the_markov_baseline(tmp_path, split):
    data = tmp_path / "bacteria"
    data.mkdir()
    for i, name in enumerate(["E.Coli__a", "H.Pylori__a", "S.Aureus__a", "V.Cholerae__a"]):
        fake_genome(data / f"{name}.fasta.gz", i)
    res = script("bench_bacteria.py", "--split", split, "--data", data, "--model", "debug", "--tokens", 20480, "--lr", 0.01,
                 "--window", 128, "--batch", 4, "--markov", 3, "--device", "cpu", "--workers", 1,
                 "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads((tmp_path / "out" / f"bacteria_{split}.json").read_text())
    assert [r["model"] for r in out["rows"]] == ["transformer debug", "cnn debug", "lstm debug", "Markov k<=3"]
    assert all(r["tokens_seen"] == 20480 for r in out["rows"][:3])  # the same token budget
    # The same test bases for every model: all of them for the Markov model; the neural models score
    # every full window of the test corpus but its first token (no context) — 46 windows of 128 here.
    assert {r["scored_tokens"] for r in out["rows"][:3]} == {out["rows"][0]["scored_tokens"]}
    n_test = out["rows"][3]["scored_tokens"]
    assert n_test - 128 - n_test // 128 < out["rows"][0]["scored_tokens"] <= n_test - n_test // 128
    # Random bases: nothing to learn but the four letters, so every model ends near 2 bits per base.
    assert all(1.95 < r["test_bpb"] < 2.2 for r in out["rows"])
    if split == "species":
        assert out["test_files"] == ["V.Cholerae__a.fasta.gz"] and "V.Cholerae__a.fasta.gz" not in out["train_files"]
    else:
        assert len(out["train_files"]) == 4 and len(out["test_files"]) == 2


def test_bench_embed_cpu(tmp_path):
    res = script("bench_embed.py", "--device", "cpu", "--flavor", "debug", "--n", 8, "--length", 300,
                 "--reads", ROOT / "data" / "camisim_reads.fasta.gz", "--max-reads", 200, "--repeat", 1,
                 "--out", tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "embed_cpu.json").read_text())["rows"]
    assert [r["case"] for r in rows] == ["genolm, 300 bp", "hf-esm, 300 bp", "genolm reads, length-sorted",
                                         "genolm reads, padded in file order"]
    assert all(r["seqs_per_s"] > 0 for r in rows)
    res = script("bench_embed.py", "--device", "cpu", "--flavor", "debug", "--n", 4, "--length", 100,
                 "--reads", ROOT / "data" / "lambda.fasta.gz", "--fragments", "50-400", "--max-reads", 50,
                 "--repeat", 1, "--out", tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "embed_cpu.json").read_text())["rows"]
    sorted_row = next(r for r in rows if r["case"] == "genolm reads, length-sorted")
    assert sorted_row["bases_per_s"] / sorted_row["seqs_per_s"] == pytest.approx(225, abs=60)  # mean length


def test_gue_corpus_keeps_dev_and_test_sequences_out(tmp_path):
    import gzip

    rows = {"train": ["AAAACCCC", "GGGGTTTT", "ACGTACGT"], "dev": ["CCCCAAAA"], "test": ["ACGTACGT"]}
    for task in ("a/x", "b/y"):
        d = tmp_path / "gue" / task
        d.mkdir(parents=True)
        for split, seqs in rows.items():
            (d / f"{split}.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs)))
    res = script("gue_corpus.py", tmp_path / "gue", tmp_path / "c.fa.gz")
    assert res.returncode == 0, res.stderr
    text = gzip.open(tmp_path / "c.fa.gz", "rt").read()
    assert text == ">a/x/0\nAAAACCCC\n>a/x/1\nGGGGTTTT\n"  # test sequence out, repeats once
    assert "2 left out" in res.stdout


def test_attention_variants_compute_the_same_function():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from bench_pretrain import ATTENTION_VARIANTS, use_attention_variant

    from genolm.model import build_model, config_for

    torch.manual_seed(0)
    model = build_model(config_for("debug", vocab_size=86))
    ids = torch.randint(71, 86, (2, 40))
    outs = {}
    try:
        for name in ATTENTION_VARIANTS:
            use_attention_variant(name)
            outs[name] = model(ids)
            outs[name].float().pow(2).mean().backward()
            outs[name] = (outs[name].detach(), model.backbone.embed.weight.grad.clone())
            model.zero_grad()
    finally:
        use_attention_variant("genolm")
    for name in ("split", "contiguous"):
        torch.testing.assert_close(outs[name][0], outs["genolm"][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(outs[name][1], outs["genolm"][1], rtol=1e-4, atol=1e-7)


def test_bench_scaling_on_two_cpu_processes(tmp_path):
    """benchmarks/bench_scaling.py, the issue-10 script, on gloo: one process, then DDP and FSDP2 on
    two; the embedding on one and two processes writes the same vectors."""
    res = script("bench_scaling.py", "--out", tmp_path, "--device", "cpu", "--gpus", "1", "2", "64",
                 "--flavors", "debug", "--window", "128", "--steps", "6", "--warmup", "2", "--batch-per-gpu", "2",
                 "--embed-fragments", "60", "--fragment-length", "300", "--timeout", "300")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    r = json.loads((tmp_path / "scaling.json").read_text())
    assert r["counts"] == [1, 2] and r["not_measured"] == [64]
    rows = {(x["strategy"], x["gpus"]): x for x in r["train"]}
    assert set(rows) == {("one process", 1), ("ddp", 2), ("fsdp", 2)}
    assert all(x["tokens_per_s"] > 0 and x["timed_steps"] == 4 for x in rows.values())
    assert rows["one process", 1]["efficiency"] == 1.0
    assert rows["ddp", 2]["per_gpu"] == rows["ddp", 2]["tokens_per_s"] / 2
    # DDP and FSDP2 train the same model on the same global batch
    assert rows["ddp", 2]["final_loss"] == pytest.approx(rows["fsdp", 2]["final_loss"], rel=1e-5)
    emb = {x["gpus"]: x for x in r["embed"]}
    assert emb[2]["same_ids_as_1"] and emb[2]["identical_rows"] == emb[2]["sequences"] > 0
    assert emb[2]["max_abs_diff"] == 0.0
    assert "| debug |" in res.stdout and "rows identical to 1 GPU" in res.stdout
