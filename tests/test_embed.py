"""genolm embed: determinism, strand averaging, batch independence, layers, long sequences, a
Hugging Face ESM folder as --model, sample metadata, bad input, and 2 processes = 1 process."""

from __future__ import annotations

import gzip
import itertools
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from conftest import make_run, run_cli
from genolm.bio.seq import reverse_complement
from genolm.infer.embedding import Embedder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed_runs")
    return {(f, c): make_run(root, f, c) for f in ("transformer", "lstm", "cnn") for c in (True, False)}


def seqs(n=7, seed=0, lo=5, hi=200):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), rng.integers(lo, hi))) for _ in range(n)]


def write_fasta(path, records):
    with gzip.open(path, "wt") as f:
        for name, s in records:
            f.write(f">{name}\n{s}\n")
    return path


def read_vectors(path):
    t = pq.read_table(path)
    return t.column("id").to_pylist(), np.stack(t.column("embedding").to_numpy(zero_copy_only=False))


@pytest.mark.parametrize("family", ["transformer", "lstm", "cnn"])
@pytest.mark.parametrize("causal", [True, False], ids=["clm", "mlm"])
def test_a_vector_does_not_depend_on_its_batch(runs, family, causal):
    emb = Embedder.load(runs[family, causal], "cpu")
    xs = seqs(9)
    together = emb.embed(xs, batch_tokens=4096)  # one padded batch of mixed lengths
    alone = np.stack([emb.embed([s])[0] for s in xs])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    assert emb.embed(xs, batch_tokens=4096).tobytes() == together.tobytes()  # deterministic


def test_padding_masks_are_dense_even_where_flex_attention_is_available(runs, monkeypatch):
    """A batch of one sequence per row needs only a padding mask: dense (SDPA), never a flex block
    mask, whose per-shape compiles fell back to an eager all-scores kernel on a GPU."""
    import genolm.model.transformer as tr

    def no_block_masks(*a, **k):
        raise AssertionError("flex-attention block mask built for an embedding batch")

    monkeypatch.setattr(tr, "use_flex", lambda *a, **k: True)  # as on a GPU
    monkeypatch.setattr(tr, "document_block_mask", no_block_masks)
    emb = Embedder.load(runs["transformer", False], "cpu")
    xs = seqs(5)
    together = emb.embed(xs, batch_tokens=4096)  # mixed lengths: padded rows, a mask
    np.testing.assert_allclose(together, np.stack([emb.embed([s])[0] for s in xs]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool", ["mean", "max", "last"])
def test_strand_both_gives_a_sequence_and_its_reverse_complement_one_vector(runs, pool):
    emb = Embedder.load(runs["transformer", False], "cpu")
    xs = seqs(5) + ["ACGTNRYACGGT"]
    a = emb.embed(xs, pool=pool, strand="both")
    b = emb.embed([reverse_complement(s) for s in xs], pool=pool, strand="both")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, emb.embed(xs, pool=pool))  # and it is not the forward vector


def test_layers_and_pooling(runs):
    emb = Embedder.load(runs["transformer", True], "cpu")
    s = seqs(1, lo=50, hi=51)
    ids = torch.as_tensor(emb.encode(s[0]))[None]
    with torch.no_grad():
        tokens = emb.backbone.embed(ids)[0]  # (T, d)
        out = emb.backbone(ids)[0]
    np.testing.assert_allclose(emb.embed(s, layer=0)[0], tokens.mean(0).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.embed(s, pool="max", layer=0)[0], tokens.amax(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(emb.embed(s, pool="last")[0], out[-1].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.embed(s)[0], out.mean(0).numpy(), rtol=1e-5, atol=1e-6)
    last_block = emb.embed(s, layer=emb.n_layers)[0]
    assert not np.allclose(last_block, emb.embed(s)[0])  # before vs after the final norm


def test_long_sequences_are_windows_weighted_by_length(runs):
    emb = Embedder.load(runs["transformer", True], "cpu")
    m = emb.max_len  # the run's window (64)
    long = seqs(1, lo=2 * m + 20, hi=2 * m + 21)[0]
    parts = [long[:m], long[m: 2 * m], long[2 * m:]]
    expected = sum(emb.embed([p])[0] * len(p) for p in parts) / len(long)
    np.testing.assert_allclose(emb.embed([long])[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.embed([long], pool="max")[0], np.max([emb.embed([p], pool="max")[0] for p in parts], 0),
                               rtol=1e-6)


def test_cli_writes_parquet_in_input_order_and_is_deterministic(tmp_path, capsys, runs):
    xs = seqs(30, seed=3)
    fa = write_fasta(tmp_path / "x.fasta.gz", [(f"s{i}", s) for i, s in enumerate(xs)])
    args = ["embed", "--model", runs["transformer", True], fa, "--chunk", "7", "--batch-tokens", "300"]
    code, out, err = run_cli(args + ["--out", tmp_path / "a.parquet"], capsys)
    assert code == 0, err
    assert run_cli(args + ["--out", tmp_path / "b.parquet"], capsys)[0] == 0
    ids, a = read_vectors(tmp_path / "a.parquet")
    assert ids == [f"s{i}" for i in range(30)] and a.shape == (30, 32) and a.dtype == np.float32
    assert read_vectors(tmp_path / "b.parquet")[1].tobytes() == a.tobytes()
    t = pq.read_table(tmp_path / "a.parquet")
    assert t.column("length").to_pylist() == [len(s) for s in xs]
    assert set(t.column("file").to_pylist()) == {"x.fasta.gz"}
    assert b'"pool": "mean"' in pq.read_metadata(tmp_path / "a.parquet").metadata[b"genolm_embed"]
    np.testing.assert_allclose(a, Embedder.load(runs["transformer", True], "cpu").embed(xs), rtol=1e-5, atol=1e-6)
    assert "30 sequences, 32-dim mean embeddings" in out


def test_sample_sheet_metadata_becomes_columns(tmp_path, capsys, runs):
    write_fasta(tmp_path / "a.fa.gz", [("r1", "ACGTACGTAA"), ("r2", "GGGCCCAAAT")])
    write_fasta(tmp_path / "b.fa.gz", [("r1", "TTTTACGGCA")])
    (tmp_path / "s.tsv").write_text("sample_id\tpath\ttemperature_c\tdepth_m\n"
                                    "A\ta.fa.gz\t12.5\t5\nB\tb.fa.gz\t20\t150\n")
    code, _, err = run_cli(["embed", "--model", runs["cnn", True], "--samples", tmp_path / "s.tsv",
                            "--out", tmp_path / "e.parquet"], capsys)
    assert code == 0, err
    t = pq.read_table(tmp_path / "e.parquet").to_pydict()
    assert t["sample"] == ["A", "A", "B"] and t["temperature_c"] == [12.5, 12.5, 20.0]
    assert t["id"] == ["r1", "r2", "r1"]  # ids repeat across files, rows stay apart


@pytest.fixture(scope="module")
def esm(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("esm")
    vocab = ["<cls>", "<pad>", "<eos>", "<unk>", "<mask>"] + ["".join(p) for p in itertools.product("ACGT", repeat=3)] \
        + list("ACGTN")
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.EsmTokenizer(str(root / "vocab.txt"))
    cfg = transformers.EsmConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, pad_token_id=1, mask_token_id=4, max_position_embeddings=66,
                                 position_embedding_type="rotary")
    torch.manual_seed(0)
    model = transformers.EsmForMaskedLM(cfg).eval()
    out = root / "nt-tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, model.esm, tok


def test_a_hugging_face_esm_folder_embeds_like_transformers(tmp_path, capsys, esm):
    path, model, tok = esm
    xs = seqs(6, seed=5, lo=10, hi=60)
    fa = write_fasta(tmp_path / "x.fa.gz", [(f"s{i}", s) for i, s in enumerate(xs)])
    code, out, err = run_cli(["embed", "--model", path, fa, "--out", tmp_path / "e.parquet", "--device", "cpu"], capsys)
    assert code == 0, err
    assert "huggingface esm" in out
    _, got = read_vectors(tmp_path / "e.parquet")
    for s, v in zip(xs, got):  # mean over the sequence's tokens, <cls> and <eos> left out
        enc = tok(s, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0, 1:-1]
        np.testing.assert_allclose(v, h.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    code, _, err = run_cli(["embed", "--model", path, fa, "--out", tmp_path / "c.parquet", "--pool", "cls",
                            "--layer", "1"], capsys)
    assert code == 0, err
    enc = tok(xs[0], return_tensors="pt")
    with torch.no_grad():
        h = model(**enc, output_hidden_states=True).hidden_states[1][0, 0]
    np.testing.assert_allclose(read_vectors(tmp_path / "c.parquet")[1][0], h.numpy(), rtol=1e-4, atol=1e-5)


def test_hf_long_sequences_keep_cls_and_eos_in_every_window(esm):
    path, model, tok = esm
    emb = Embedder.load(path, "cpu")
    long = seqs(1, seed=9, lo=400, hi=401)[0]  # ~140 3-mer tokens: three windows of <= 64
    pieces = emb.windows([long])
    assert len(pieces) >= 3 and all(p.ids[0] == tok.cls_token_id and p.ids[-1] == tok.eos_token_id for p in pieces)
    assert all(len(p.ids) <= emb.max_len for p in pieces)


@pytest.mark.parametrize("args,message", [
    (["--pool", "cls"], "no <cls> token"),
    (["--layer", "9"], "no such layer"),
    (["--out", "x.tsv"], "must be a .parquet file"),
])
def test_bad_options_are_one_line(tmp_path, capsys, runs, args, message):
    fa = write_fasta(tmp_path / "x.fa.gz", [("a", "ACGT")])
    out = ["--out", str(tmp_path / "e.parquet")] if "--out" not in args else []
    code, _, err = run_cli(["embed", "--model", runs["transformer", True], fa, *out, *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.parquet").exists()


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, runs):
    fa = write_fasta(tmp_path / "x.fa.gz", [("good", "ACGT" * 10), ("bad", "ACGTQQ")])
    code, _, err = run_cli(["embed", "--model", runs["transformer", True], fa, "--out", tmp_path / "e.parquet"], capsys)
    assert code == 2 and "x.fa.gz:4:" in err and "'bad'" in err and "'Q'" in err and "--unknown n" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.parquet").exists() and not list(tmp_path.glob(".e.parquet*"))
    code, _, err = run_cli(["embed", "--model", runs["transformer", True], fa, "--out", tmp_path / "e.parquet",
                            "--unknown", "skip"], capsys)
    assert code == 0 and pq.read_table(tmp_path / "e.parquet").column("id").to_pylist() == ["good"]
    code, _, err = run_cli(["embed", "--model", runs["transformer", True], fa, "--out", tmp_path / "n.parquet",
                            "--unknown", "n"], capsys)
    assert code == 0
    t = pq.read_table(tmp_path / "n.parquet")
    assert t.column("id").to_pylist() == ["good", "bad"] and t.column("length").to_pylist() == [40, 6]
    emb = Embedder.load(runs["transformer", True], "cpu")
    np.testing.assert_allclose(read_vectors(tmp_path / "n.parquet")[1][1], emb.embed(["ACGTNN"])[0], rtol=1e-5)
    code, _, err = run_cli(["embed", "--model", tmp_path / "nothing", fa, "--out", tmp_path / "e.parquet"], capsys)
    assert code == 2 and "not a model directory" in err


def test_two_processes_write_the_same_file_as_one(tmp_path, runs):
    xs = seqs(23, seed=11)
    fa = write_fasta(tmp_path / "x.fa.gz", [(f"s{i}", s) for i, s in enumerate(xs)])
    common = ["embed", "--model", str(runs["lstm", False]), str(fa), "--chunk", "4", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "genolm", *common, "--out", str(tmp_path / "one.parquet")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", str(29600 + os.getpid() % 1000), "-m", "genolm", *common,
                          "--out", str(tmp_path / "two.parquet")], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    ids1, v1 = read_vectors(tmp_path / "one.parquet")
    ids2, v2 = read_vectors(tmp_path / "two.parquet")
    assert ids1 == ids2 == [f"s{i}" for i in range(23)]
    np.testing.assert_allclose(v1, v2, rtol=1e-6, atol=1e-7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.parquet", "two.parquet", "x.fa.gz"]


def test_a_kmer_tokenizer_that_expects_spaces_is_caught(tmp_path, capsys):
    """DNABERT-style BERT: its vocabulary holds space-separated 6-mers, so raw sequence tokenizes
    to <unk> — embeddings of nothing. genolm refuses instead of returning them."""
    transformers = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["".join(p) for p in itertools.product("ACGT", repeat=6)]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, pad_token_id=0, max_position_embeddings=64)
    transformers.BertForMaskedLM(cfg).save_pretrained(tmp_path / "dnabert")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=False).save_pretrained(tmp_path / "dnabert")
    fa = write_fasta(tmp_path / "x.fa.gz", [("a", "ACGTACGTTGCA" * 3)])
    capsys.readouterr()  # drop save_pretrained's progress output
    code, _, err = run_cli(["embed", "--model", tmp_path / "dnabert", fa, "--out", tmp_path / "e.parquet"], capsys)
    assert code == 2 and "mostly <unk>" in err and "6-mers" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.parquet").exists()


def test_compile_gives_the_same_vectors(tmp_path, capsys, runs):
    """--compile changes how the forward runs, not what it computes (mlm with padding: doc masks)."""
    xs = seqs(6, seed=5)
    eager = Embedder.load(runs["transformer", False], "cpu")
    compiled = Embedder.load(runs["transformer", False], "cpu").compile()
    np.testing.assert_allclose(compiled.embed(xs, batch_tokens=600), eager.embed(xs, batch_tokens=600),
                               rtol=1e-4, atol=1e-5)
    assert compiled._compiled is not None
    fa = write_fasta(tmp_path / "x.fasta.gz", [(f"s{i}", s) for i, s in enumerate(xs)])
    code, _, err = run_cli(["embed", "--model", runs["transformer", False], fa, "--compile",
                            "--out", tmp_path / "a.parquet"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(read_vectors(tmp_path / "a.parquet")[1], eager.embed(xs), rtol=1e-4, atol=1e-5)


def test_compiled_batches_have_static_shapes(runs, monkeypatch):
    """Compiled, mixed lengths run as few fixed (rows, width) shapes, padded with empty rows, and
    give the eager vectors: no dynamic-shape recompiles (an inductor bug with flex masks)."""
    monkeypatch.setattr(Embedder, "BUCKET", 16)
    rng = np.random.default_rng(3)
    xs = ["".join(rng.choice(list("ACGT"), int(n))) for n in rng.integers(5, 60, 40)] + ["ACGT" * 40]
    eager = Embedder.load(runs["transformer", False], "cpu")
    compiled = Embedder.load(runs["transformer", False], "cpu").compile()
    shapes, model = [], compiled._compiled
    compiled._compiled = lambda ids, docs, n_blocks=None: (shapes.append(tuple(ids.shape)),
                                                            model(ids, docs, n_blocks=n_blocks))[1]
    for pool in ("mean", "max", "last"):
        np.testing.assert_allclose(compiled.embed(xs, pool=pool, batch_tokens=200),
                                   eager.embed(xs, pool=pool, batch_tokens=200), rtol=1e-4, atol=1e-5)
    widths = {w for _, w in shapes}
    assert widths <= {16, 32, 48, 64} and len(widths) > 1  # multiples of BUCKET, up to max_len (64)
    assert all(rows == 200 // w for rows, w in shapes)  # one row count per width: the last batch is filled
    shapes.clear()  # rows of one length keep their exact width (no padding); rows as for its bucket
    same = xs[:1] * 3 + ["".join(rng.choice(list("ACGT"), 40)) for _ in range(9)]
    np.testing.assert_allclose(compiled.embed(same, batch_tokens=200), eager.embed(same, batch_tokens=200),
                               rtol=1e-4, atol=1e-5)
    # sorted: nine of 40 (bucket 48: 4 rows), then three of 49 (bucket 64: 3 rows); the mixed batch pads
    assert len(xs[0]) == 49 and shapes == [(4, 40), (4, 40), (3, 64), (3, 49)]
    assert compiled.backbone.doc_attention == "dense"  # no flex block masks inside a compiled graph


def test_vectors_and_progress_do_not_depend_on_how_often_results_are_copied(runs, monkeypatch):
    emb = Embedder.load(runs["transformer", False], "cpu")
    xs = seqs(9, seed=7) + ["ACGT" * 100]  # the long one is several windows
    counted = []
    once = emb.embed(xs, batch_tokens=300, progress=counted.append)
    assert sum(counted) == len(xs)
    monkeypatch.setattr(Embedder, "FLUSH_ROWS", 1)  # a copy after every batch
    counted.clear()
    np.testing.assert_array_equal(emb.embed(xs, batch_tokens=300, progress=counted.append), once)
    assert sum(counted) == len(xs) and len(counted) > 1
