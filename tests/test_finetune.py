"""genolm finetune: learns a planted motif (from scratch, full, probe, LoRA), regression, FASTA +
label table, a Hugging Face folder as --model, and one-line errors for bad tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import motif_split, run_cli, write_csv
from genolm.finetune.finetune import LoRALinear, add_lora, classification_metrics, regression_metrics

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def motif(tmp_path_factory):
    d = tmp_path_factory.mktemp("motif")
    return {k: write_csv(d / f"{k}.csv", motif_split(n, seed)) for k, n, seed in
            (("train", 400, 0), ("val", 100, 1), ("test", 100, 2))}


def finetune(capsys, motif, out, *extra):
    code, stdout, err = run_cli(["finetune", "--train", motif["train"], "--val", motif["val"], "--test", motif["test"],
                                 "--out", out, "--device", "cpu", *extra], capsys)
    assert code == 0, err
    return json.loads((out / "metrics.json").read_text()), stdout


def test_a_cnn_from_scratch_learns_a_planted_motif(tmp_path, capsys, motif):
    m, stdout = finetune(capsys, motif, tmp_path / "cnn", "--model", "cnn", "--flavor", "debug", "--epochs", "12",
                         "--batch-size", "16", "--lr", "5e-3")
    assert m["task"] == "classify" and m["mode"] == "scratch"
    assert m["test_accuracy"] > 0.9 and m["test_mcc"] > 0.8 and m["test_auroc"] > 0.95, m
    assert 1 <= m["best_epoch"] <= m["epochs_run"] <= 12
    preds = (tmp_path / "cnn" / "predictions.tsv").read_text().splitlines()
    assert preds[0] == "split\tid\tlabel\tprediction\tp_0\tp_1" and len(preds) == 1 + 200
    assert "test_mcc" in stdout
    assert {"model.safetensors", "finetune.json", "history.jsonl"} <= {p.name for p in (tmp_path / "cnn").iterdir()}


@pytest.fixture(scope="module")
def pretrained(masked_run):
    return masked_run


def test_probe_and_lora_train_only_what_they_should(tmp_path, capsys, motif, pretrained):
    probe, _ = finetune(capsys, motif, tmp_path / "probe", "--model", pretrained, "--freeze", "--epochs", "3")
    assert probe["mode"] == "probe" and probe["trainable_params"] == 32 * 2 + 2  # the linear head only
    lora, _ = finetune(capsys, motif, tmp_path / "lora", "--model", pretrained, "--lora", "2", "--epochs", "2")
    full, _ = finetune(capsys, motif, tmp_path / "full", "--model", pretrained, "--epochs", "2")
    assert lora["mode"] == "lora" and full["mode"] == "full"
    assert lora["trainable_params"] < full["trainable_params"] / 3
    for m in (probe, lora, full):
        assert -1 <= m["test_mcc"] <= 1 and 0 <= m["test_accuracy"] <= 1


def test_lora_starts_at_the_base_model_and_freezes_it():
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    x = torch.randn(5, 8)
    before = base(x).detach()
    assert add_lora(base, 2) == 2
    assert isinstance(base[0], LoRALinear) and torch.equal(base(x), before)  # B = 0 at the start
    trainable = [n for n, p in base.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["0.lora_a", "0.lora_b", "2.lora_a", "2.lora_b"]
    base(x).sum().backward()
    assert base[0].lora_b.grad is not None and base[0].base.weight.grad is None


def test_regression_learns_gc_content(tmp_path, capsys):
    rng = np.random.default_rng(0)

    def rows(n):
        out = []
        for _ in range(n):
            gc = rng.uniform(0.2, 0.8)
            s = "".join(np.where(rng.random(80) < gc, rng.choice(list("GC"), 80), rng.choice(list("AT"), 80)))
            out.append((s, f"{(s.count('G') + s.count('C')) / 80:.4f}"))
        return out
    files = {k: write_csv(tmp_path / f"{k}.tsv", rows(n), "sequence\tlabel", "\t")
             for k, n in (("train", 300), ("val", 60), ("test", 60))}
    m, _ = finetune(capsys, files, tmp_path / "gc", "--model", "cnn", "--flavor", "debug", "--epochs", "6",
                    "--batch-size", "16", "--lr", "3e-3")
    assert m["task"] == "regress" and m["test_spearman"] > 0.8 and m["test_r2"] > 0.5, m
    assert (tmp_path / "gc" / "predictions.tsv").read_text().startswith("split\tid\tlabel\tprediction\n")


def test_fasta_with_a_label_table(tmp_path, capsys, motif):
    rows = motif_split(60, 5)
    for k in ("train", "val", "test"):
        (tmp_path / f"{k}.fa").write_text("".join(f">{k}{i}\n{s}\n" for i, (s, _) in enumerate(rows)))
    (tmp_path / "labels.tsv").write_text("id\tlabel\n" + "".join(
        f"{k}{i}\t{'promoter' if lab else 'background'}\n" for k in ("train", "val", "test") for i, (_, lab) in enumerate(rows)))
    code, _, err = run_cli(["finetune", "--model", "cnn", "--flavor", "debug", "--train", tmp_path / "train.fa",
                            "--val", tmp_path / "val.fa", "--test", tmp_path / "test.fa", "--labels", tmp_path / "labels.tsv",
                            "--epochs", "1", "--out", tmp_path / "o", "--device", "cpu"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "finetune.json").read_text())["classes"] == ["background", "promoter"]
    assert "\ttest3\t" in (tmp_path / "o" / "predictions.tsv").read_text()


def test_a_hugging_face_folder_fine_tunes(tmp_path, capsys, motif):
    pytest.importorskip("transformers")
    import itertools

    import transformers

    vocab = ["<cls>", "<pad>", "<eos>", "<unk>", "<mask>"] + ["".join(p) for p in itertools.product("ACGT", repeat=3)] \
        + list("ACGTN")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = transformers.EsmConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, pad_token_id=1, mask_token_id=4, max_position_embeddings=66,
                                 position_embedding_type="rotary")
    torch.manual_seed(0)
    transformers.EsmForMaskedLM(cfg).save_pretrained(tmp_path / "esm")
    transformers.EsmTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "esm")
    m, _ = finetune(capsys, motif, tmp_path / "o", "--model", tmp_path / "esm", "--lora", "2", "--epochs", "1",
                    "--pool", "cls")
    assert m["mode"] == "lora" and m["n_test"] == 100


@pytest.mark.parametrize("content,message", [
    ("seq,label\nACGT,1\n", "missing column(s): sequence"),
    ("sequence,label\nACGT,1\nACJT,0\n", "character outside the dna alphabet"),
    ("sequence,label\nACGT,1\nACGT,\n", "missing label"),
    ("sequence,label\nACGT,1\nACGT,1\n", "one class only"),
    ("sequence,label\nACGT,1,3\n", "wrong number of columns"),
])
def test_bad_tables_are_one_line(tmp_path, capsys, motif, content, message):
    bad = tmp_path / "train.csv"
    bad.write_text(content)
    code, _, err = run_cli(["finetune", "--model", "cnn", "--flavor", "debug", "--train", bad, "--val", motif["val"],
                            "--test", motif["test"], "--out", tmp_path / "o", "--device", "cpu"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "train.csv" in err and not (tmp_path / "o").exists()


def test_metrics_match_definitions():
    y = np.array([0, 0, 1, 1, 1, 0])
    prob = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.3, 0.7]])
    m = classification_metrics(y, prob)
    tp, tn, fp, fn = 2, 2, 1, 1
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["mcc"] == pytest.approx((tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    assert m["auroc"] == pytest.approx(6 / 9)  # 6 of the 9 (positive, negative) pairs ranked right
    r = regression_metrics(np.array([1.0, 2, 3, 4]), np.array([1.1, 1.9, 3.2, 3.8]))
    assert r["spearman"] == pytest.approx(1.0) and 0.9 < r["r2"] < 1.0


def test_bench_gue_runs_a_miniature_suite(tmp_path, capsys):
    """Two tasks named like GUE's (so published numbers attach) plus one added by path."""
    import gzip

    for name, seed in (("tf/0", 10), ("prom/prom_300_tata", 20), ("extra/mine", 30)):
        d = tmp_path / ("gue" if not name.startswith("extra") else "elsewhere") / name
        d.mkdir(parents=True)
        for split, n, k in (("train", 400, 0), ("dev", 60, 1), ("test", 60, 2)):
            rows = motif_split(n, seed + k)
            with gzip.open(d / f"{split}.csv.gz", "wt") as f:
                f.write("sequence,label\n" + "".join(f"{s},{lab}\n" for s, lab in rows))
    code, out, err = run_cli(["bench", "gue", "--model", "cnn", "--flavor", "debug", "--data", tmp_path / "gue",
                              "--tasks", "tf/0", "prom/prom_300_tata", tmp_path / "elsewhere" / "extra" / "mine",
                              "--epochs", "6", "--lr", "3e-3", "--batch-size", "16", "--seeds", "2",
                              "--out", tmp_path / "out", "--device", "cpu"], capsys)
    assert code == 0, err
    lines = (tmp_path / "out" / "results.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = {line.split("\t")[0]: dict(zip(header, line.split("\t"))) for line in lines[1:]}
    assert list(rows) == ["tf/0", "prom/prom_300_tata", "mine", "average"]
    assert rows["tf/0"]["dnabert2"] == "71.99" and rows["mine"]["dnabert2"] == "-"
    assert rows["prom/prom_300_tata"]["seeds"] == "2" and float(rows["tf/0"]["genolm"]) > 50  # learns the motif
    mean = np.mean([float(rows[t]["genolm"]) for t in ("tf/0", "prom/prom_300_tata", "mine")])
    assert float(rows["average"]["genolm"]) == pytest.approx(mean, abs=0.01)
    assert float(rows["average"]["dnabert2"]) == pytest.approx((71.99 + 71.59) / 2, abs=0.01)
    assert (tmp_path / "out" / "results.png").stat().st_size > 1000
    assert (tmp_path / "out" / "tf" / "0" / "seed_1" / "metrics.json").is_file()
    assert "DNABERT-2" in out
    assert json.loads((tmp_path / "out" / "tf" / "0" / "seed_1" / "finetune.json").read_text())["args"]["seed"] == 1


def test_bench_reuses_finished_runs_and_takes_a_first_seed(tmp_path, capsys, monkeypatch):
    import gzip

    from genolm.finetune import gue

    d = tmp_path / "gue" / "tf" / "0"
    d.mkdir(parents=True)
    for split, n, k in (("train", 200, 0), ("dev", 40, 1), ("test", 40, 2)):
        with gzip.open(d / f"{split}.csv.gz", "wt") as f:
            f.write("sequence,label\n" + "".join(f"{s},{lab}\n" for s, lab in motif_split(n, 40 + k)))
    base = ["bench", "gue", "--model", "cnn", "--flavor", "debug", "--data", tmp_path / "gue", "--epochs", "2",
            "--batch-size", "16", "--out", tmp_path / "out", "--device", "cpu"]
    # Two "GPUs": seed 0, and seeds 1-2, into one --out; then all three seeds only gather the table.
    assert run_cli(base + ["--seeds", "1"], capsys)[0] == 0
    assert run_cli(base + ["--seeds", "2", "--first-seed", "1"], capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "out" / "tf" / "0").iterdir()) == ["seed_0", "seed_1", "seed_2"]
    mccs = [json.loads((tmp_path / "out" / "tf" / "0" / f"seed_{k}" / "metrics.json").read_text())["test_mcc"]
            for k in range(3)]

    def no_training(ft):
        raise AssertionError(f"re-ran {ft.out}")

    monkeypatch.setattr(gue, "finetune_run", no_training)
    code, out, err = run_cli(base + ["--seeds", "3"], capsys)
    assert code == 0, err
    assert out.count("reusing the finished fine-tuning") == 3
    row = (tmp_path / "out" / "results.tsv").read_text().splitlines()[1].split("\t")
    assert row[0] == "tf/0" and row[4] == "3" and float(row[2]) == pytest.approx(100 * np.mean(mccs), abs=0.01)
    # --collect trains nothing: seed 3 was never run, and task tf/1 has no finished run at all.
    d1 = tmp_path / "gue" / "tf" / "1"
    d1.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (d1 / f"{split}.csv").write_text("sequence,label\nACGT,0\nACGA,1\n")
    code, out, err = run_cli(base + ["--seeds", "4", "--collect"], capsys)
    assert code == 0, err
    rows = [line.split("\t") for line in (tmp_path / "out" / "results.tsv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["tf/0", "average (1 of 2 tasks)"] and rows[0][4] == "3"
    assert "tf/1                         no finished fine-tuning" in out
    code, _, err = run_cli(base + ["--collect", "--lr", "1e-3"], capsys)
    assert code == 2 and "no finished fine-tuning to collect" in err
    # Other settings are another run: nothing is reused.
    with pytest.raises(AssertionError, match="re-ran"):
        run_cli(base + ["--seeds", "1", "--lr", "1e-3", "--tasks", "tf/0"], capsys)
    with pytest.raises(AssertionError, match="re-ran"):
        run_cli(base + ["--seeds", "1", "--min-steps", "100", "--tasks", "tf/0"], capsys)
    # A folder written before --min-steps existed was a run with its default (0).
    saved = tmp_path / "out" / "tf" / "0" / "seed_0" / "finetune.json"
    info = json.loads(saved.read_text())
    del info["args"]["min_steps"]
    saved.write_text(json.dumps(info))
    code, out, _ = run_cli(base + ["--seeds", "1", "--tasks", "tf/0"], capsys)
    assert code == 0 and out.count("reusing the finished fine-tuning") == 1


def test_min_steps_gives_small_data_more_epochs(tmp_path, capsys, motif):
    """400 training rows at batch 100 are 4 steps an epoch: --min-steps 20 plans 5 epochs, not 2."""
    args = ("--model", "cnn", "--flavor", "debug", "--batch-size", "100", "--epochs", "2", "--patience", "9")
    short, _ = finetune(capsys, motif, tmp_path / "short", *args)
    long, _ = finetune(capsys, motif, tmp_path / "long", *args, "--min-steps", "20")
    assert (short["epochs_planned"], short["epochs_run"]) == (2, 2)
    assert (long["epochs_planned"], long["epochs_run"]) == (5, 5)
    history = (tmp_path / "long" / "history.jsonl").read_text().splitlines()
    assert len(history) == 5
    code, _, err = run_cli(["finetune", "--model", "cnn", "--train", motif["train"], "--val", motif["val"],
                            "--test", motif["test"], "--out", tmp_path / "bad", "--min-steps", "-1"], capsys)
    assert code == 2 and "--min-steps must be at least 0" in err


def test_bench_rejects_unknown_tasks(tmp_path, capsys):
    (tmp_path / "gue").mkdir()
    code, _, err = run_cli(["bench", "gue", "--model", "cnn", "--data", tmp_path / "gue", "--tasks", "tf/9",
                            "--out", tmp_path / "o2"], capsys)
    assert code == 2 and "unknown task" in err


def test_bench_keeps_finished_tasks_when_a_later_one_fails(tmp_path, monkeypatch):
    from genolm.finetune import gue

    for name in ("a", "b"):
        (tmp_path / "gue" / name).mkdir(parents=True)
        for split in ("train", "dev", "test"):
            (tmp_path / "gue" / name / f"{split}.csv").write_text("sequence,label\nACGT,0\n")
    calls = []

    def fake_run(ft):
        calls.append(ft.train)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second task
        return {"test_mcc": 0.5, "val_mcc": 0.6, "train_seconds": 1.0}

    monkeypatch.setattr(gue, "finetune_run", fake_run)
    args = gue.BenchArgs(model="cnn", data=str(tmp_path / "gue"), out=str(tmp_path / "out"), epochs=1, patience=1,
                         batch_size=2, flavor="debug", device="cpu", no_progress=True)
    with pytest.raises(KeyboardInterrupt):
        gue.run(args)
    lines = (tmp_path / "out" / "results.tsv").read_text().splitlines()
    assert [line.split("\t")[:3] for line in lines[1:]] == [["a", "mcc_x100", "50.00"], ["average", "mcc_x100", "50.00"]]


def test_compile_trains_the_same_model(tmp_path, capsys, motif, monkeypatch):
    calls = []
    real = torch.compile

    def spy(model, *a, **k):
        calls.append(type(model).__name__)
        return real(model, *a, **k)

    args = ("--model", "transformer", "--flavor", "debug", "--epochs", "2", "--batch-size", "40", "--lr", "3e-3")
    eager, _ = finetune(capsys, motif, tmp_path / "eager", *args)
    monkeypatch.setattr(torch, "compile", spy)
    compiled, _ = finetune(capsys, motif, tmp_path / "compiled", *args, "--compile")
    assert calls == ["SequenceClassifier"]

    def p1(out):
        return np.array([float(line.split("\t")[-1]) for line in (out / "predictions.tsv").read_text().splitlines()[1:]])

    np.testing.assert_allclose(p1(tmp_path / "compiled"), p1(tmp_path / "eager"), atol=2e-3)
    assert compiled["best_epoch"] == eager["best_epoch"]
