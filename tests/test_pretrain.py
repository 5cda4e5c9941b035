"""genolm pretrain: learning, metrics, checkpoints, exact resume after SIGKILL, recipes, samplers,
masking, and a 2-process gloo run that matches one process with the same global batch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import DATA, ROOT, run_cli
from genolm.data.loader import BatchSampler, complement_table, mask_for_mlm, reverse_complement_ids
from genolm.data.prepare import prepare, PrepareArgs
from genolm.data.shards import TokenWindows
from genolm.errors import GenolmError
from genolm.tokenize import get_tokenizer, MASK
from genolm.train.args import load_recipe, TrainArgs
from genolm.train.losses import clm_targets, IGNORE

FAST = ["--model", "debug", "--batch-size", "8", "--eval-batches", "2", "--log-every", "1",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "lambda"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz"), str(DATA / "biomarks18S_2k.fasta.gz")],
                        out=str(out), window=64, val_fraction=0.1, workers=1, no_progress=True))
    return out


def metrics(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family,objective", [("transformer", "clm"), ("transformer", "mlm"),
                                              ("lstm", "clm"), ("cnn", "clm")])
def test_pretrain_learns_and_writes_a_checkpoint(tmp_path, capsys, corpus, family, objective):
    run = tmp_path / "run"
    code, out, err = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--family", family,
                              "--objective", objective, "--steps", "60", "--eval-every", "30",
                              "--lr", "0.01"], capsys)
    assert code == 0, err
    rows = metrics(run)
    losses = [r["loss"] for r in rows if "loss" in r]
    evals = [r for r in rows if "val_bpb" in r]
    assert len(losses) == 60 and len(evals) == 2
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) - 0.05  # it learns
    assert evals[-1]["val_bpb"] < 2.05  # below a uniform guess over ACGT (2 bits) plus slack
    assert "val_bpb" in out
    for name in ("config.json", "model.safetensors", "tokenizer.json", "train_state.pt", "meta.json"):
        assert (run / "checkpoint" / name).is_file()
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 60
    assert any((run / "tb").iterdir())  # TensorBoard events


def _pretrain_cmd(corpus, run, steps):
    return [sys.executable, "-m", "genolm", "pretrain", "--data", str(corpus), "--out", str(run), *FAST,
            "--steps", str(steps), "--save-every", "5", "--eval-every", "1000", "--lr", "0.01"]


ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
RESUMED_STEPS = 240  # long enough that a busy machine still signals it mid-run


@pytest.fixture(scope="module")
def straight(corpus, tmp_path_factory):
    """A run of RESUMED_STEPS steps never stopped: what a stopped and resumed run must equal."""
    run = tmp_path_factory.mktemp("straight") / "run"
    subprocess.run(_pretrain_cmd(corpus, run, RESUMED_STEPS), check=True, env=ENV, capture_output=True)
    return run


def _same_weights(a_run, b_run):
    from safetensors.torch import load_file

    a = load_file(Path(a_run) / "checkpoint" / "model.safetensors")
    b = load_file(Path(b_run) / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit for bit


def _wait_for_step(run, step, proc, timeout=120):
    """Until metrics.jsonl logs ``step`` (the run logs every step)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if any(json.loads(x).get("step", 0) >= step for x in (run / "metrics.jsonl").read_text().splitlines()):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    raise AssertionError(f"the run ended or stalled before step {step}")


def test_sigkill_then_resume_gives_the_same_weights(tmp_path, corpus, straight):
    env, steps = ENV, RESUMED_STEPS
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_pretrain_cmd(corpus, killed, steps), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = killed / "checkpoint" / "meta.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once a mid-run checkpoint exists
        try:
            if json.loads(meta.read_text())["step"] >= 20:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    stopped_at = json.loads(meta.read_text())["step"]
    assert 20 <= stopped_at < steps
    subprocess.run(_pretrain_cmd(corpus, killed, steps) + ["--resume"], check=True, env=env,
                   capture_output=True)
    _same_weights(straight, killed)


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, corpus, straight):
    # Ctrl-C between checkpoints (--save-every 5): the step in flight finishes, a checkpoint of
    # that step is saved, the run says how to continue, and --resume ends bit-identical.
    run = tmp_path / "run"
    proc = subprocess.Popen(_pretrain_cmd(corpus, run, RESUMED_STEPS), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_step(run, 23, proc)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    stopped = json.loads((run / "checkpoint" / "meta.json").read_text())["step"]
    assert 23 <= stopped < RESUMED_STEPS
    assert f"stopped at step {stopped} of {RESUMED_STEPS}, checkpoint saved" in err
    assert f"genolm pretrain --data {corpus} --out {run} --resume" in err and "Traceback" not in err
    assert max(r["step"] for r in metrics(run) if "loss" in r) == stopped
    subprocess.run(_pretrain_cmd(corpus, run, RESUMED_STEPS) + ["--resume"], check=True, env=ENV,
                   capture_output=True)
    _same_weights(straight, run)


@pytest.mark.parametrize("how,resume", [("sigkill", False), ("ctrl-c without checkpoints", True)])
def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path, corpus, capsys, how, resume):
    run = tmp_path / "run"
    cmd = _pretrain_cmd(corpus, run, 100000)
    cmd[cmd.index("--save-every") + 1] = "100000" if how == "sigkill" else "0"
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_step(run, 3, proc)
    proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    if how != "sigkill":
        assert proc.returncode == 130 and "no checkpoint (--save-every 0)" in err, err
    assert (run / "metrics.jsonl").is_file() and not (run / "checkpoint").exists()
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "4"]
                           + (["--resume"] if resume else []), capsys)
    assert code == 0, err
    assert "stopped before its first checkpoint: starting it again" in err
    assert [r["step"] for r in metrics(run) if "loss" in r] == [1, 2, 3, 4]  # one run's log, not two
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 4


def test_damaged_checkpoint_is_a_clear_error(tmp_path, capsys, corpus):
    run = tmp_path / "run"
    args = ["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "4", "--save-every", "2"]
    assert run_cli(args, capsys)[0] == 0
    for name, damage in (("model.safetensors", lambda b: b[: len(b) // 2]),
                         ("train_state.pt", lambda b: b[: len(b) // 3]),
                         ("model.safetensors", lambda b: b"\x00" * 16 + b[16:])):
        saved = tmp_path / "saved"
        shutil.copytree(run, saved, dirs_exist_ok=True)
        f = run / "checkpoint" / name
        f.write_bytes(damage(f.read_bytes()))
        code, _, err = run_cli(args[:-4] + ["--steps", "6", "--resume"], capsys)
        assert code == 2 and err.count("\n") == 1 and "corrupt" in err, err
        shutil.rmtree(run)
        shutil.copytree(saved, run)


def test_existing_run_needs_resume(tmp_path, capsys, corpus):
    run = tmp_path / "run"
    args = ["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "2"]
    assert run_cli(args, capsys)[0] == 0
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "--resume" in err


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_recipes_load(recipe):
    values = load_recipe(recipe)
    args = TrainArgs(data="corpus", out="run", **values)
    from genolm.model import config_for

    config_for(args.model, family=args.family, vocab_size=100, causal=args.objective == "clm", **args.overrides)


def test_recipe_errors(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("steps: 10\nlearning_rate: 0.1\n")
    with pytest.raises(GenolmError, match="unknown recipe key 'learning_rate'"):
        load_recipe(bad)
    bad.write_text("steps: [1,\n")
    with pytest.raises(GenolmError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(GenolmError, match="--objective"):
        TrainArgs(data="c", out="r", objective="gan")


def test_sampler_is_stateless_and_splits_ranks():
    windows = TokenWindows([np.arange(1000, dtype=np.uint16)], window=10, stride=10, seed=3)
    one = BatchSampler(windows, batch_size=8, seed=1)
    ranks = [BatchSampler(windows, batch_size=8, seed=1, rank=r, world=2) for r in range(2)]
    for step in (0, 5, 12, 13, 40):  # 100 windows: steps 12-13 straddle an epoch
        whole = one.indices(step)
        assert np.array_equal(np.concatenate([r.indices(step) for r in ranks]), whole)
        assert np.array_equal(one.indices(step), BatchSampler(windows, 8, seed=1).indices(step))
    epoch = np.concatenate([one.indices(s) for s in range(13)])[:100]
    assert sorted(epoch.tolist()) == list(range(100))  # each window once per epoch


def test_mlm_masking_and_clm_targets():
    tok = get_tokenizer("char")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(tok.first_symbol_id, tok.first_symbol_id + 4, (64, 256))
    ids[:, 100] = 5  # a separator is never a target
    inputs, targets = mask_for_mlm(ids, tok, 0.15, g)
    scored = targets != IGNORE
    assert abs(scored.float().mean().item() - 0.15) < 0.01 and not scored[:, 100].any()
    assert torch.equal(targets[scored], ids[scored])
    masked = (inputs == MASK) & scored
    assert abs(masked.sum().item() / scored.sum().item() - 0.8) < 0.03
    assert torch.equal(inputs[~scored], ids[~scored])
    t = clm_targets(ids, tok.first_symbol_id)
    assert torch.equal(t[:, :99], ids[:, 1:100]) and (t[:, -1] == IGNORE).all()
    assert (t[:, 99] == 5).all() and (t[:, 100] != IGNORE).all()  # the <sep> ending a record is a target
    ids[:, 150:152] = 5
    t = clm_targets(ids, tok.first_symbol_id)
    assert (t[:, 149] == 5).all() and (t[:, 150] == IGNORE).all()  # a <sep> after a <sep> is not


def test_reverse_complement_ids_is_an_involution():
    tok = get_tokenizer("char")
    table = complement_table(tok)
    ids = torch.as_tensor(tok.encode("ACGTNRYKM" * 3), dtype=torch.long)[None]
    rc = reverse_complement_ids(ids, table)
    assert tok.decode(rc[0].numpy()) == "KMRYNACGT" * 3 and torch.equal(reverse_complement_ids(rc, table), ids)


def test_two_process_gloo_run_matches_one_process(tmp_path, corpus):
    """torchrun --nproc-per-node 2 (gloo, CPU) stays in sync and matches 1 process with the same
    global batch (up to float summation order)."""
    from safetensors.torch import load_file

    common = ["--data", str(corpus), *FAST, "--steps", "8", "--save-every", "8", "--eval-every", "4",
              "--no-rc-augment"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "genolm", "pretrain", "--out", str(tmp_path / "one"), *common],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", str(29500 + os.getpid() % 1000), "-m", "genolm", "pretrain",
                          "--out", str(tmp_path / "two"), *common], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    a = load_file(tmp_path / "one" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "two" / "checkpoint" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    m1, m2 = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    v1 = [r["val_loss"] for r in m1 if "val_loss" in r]
    v2 = [r["val_loss"] for r in m2 if "val_loss" in r]
    assert np.allclose(v1, v2, rtol=1e-4)


def test_save_every_zero_is_a_timing_run_without_checkpoint(tmp_path, capsys, corpus):
    run = tmp_path / "run"
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "4", "--save-every", "0"],
                           capsys)
    assert code == 0, err
    assert [r["step"] for r in metrics(run) if "loss" in r] == [1, 2, 3, 4] and not (run / "checkpoint").exists()
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", tmp_path / "r2", *FAST, "--save-every", "-1"], capsys)
    assert code == 2 and "a positive integer or 0" in err


def test_fsdp_two_processes_match_one_and_resume_across_strategies(tmp_path, corpus):
    """--parallel fsdp (FSDP2, 2 gloo processes) trains what one process trains; a run saved
    under FSDP resumes under FSDP and on one process, and a one-process run resumes under FSDP,
    all to the same weights as one process throughout (the optimizer state is gathered by name)."""
    from safetensors.torch import load_file

    common = ["--data", str(corpus), *FAST, "--eval-every", "4", "--no-rc-augment"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = iter(range(29500 + (os.getpid() + 500) % 1000, 30600))

    def pretrain(out, steps, procs, *extra):
        launch = ([sys.executable, "-m", "genolm"] if procs == 1 else
                  [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                   str(next(port)), "-m", "genolm"])
        par = ["--parallel", "fsdp"] if procs == 2 else []
        r = subprocess.run([*launch, "pretrain", "--out", str(tmp_path / out), *common, "--steps", str(steps),
                            "--save-every", str(steps), *par, *extra], env=env, capture_output=True, text=True)
        # head and tail: torchrun's summary at the end hides a rank's own first error
        assert r.returncode == 0, r.stderr[:3000] + "\n[...]\n" + r.stderr[-3000:]
        return load_file(tmp_path / out / "checkpoint" / "model.safetensors")

    def same(a, b):
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)

    one = pretrain("one", 8, 1)
    same(one, pretrain("fsdp", 8, 2))
    pretrain("half", 4, 1)
    shutil.copytree(tmp_path / "half", tmp_path / "half_copy")
    resumed = pretrain("half", 8, 1, "--resume")  # the reference: 4 steps, then 4 more, one process
    same(resumed, pretrain("half_copy", 8, 2, "--resume"))  # plain checkpoint -> FSDP
    pretrain("fsdp_half", 4, 2)
    shutil.copytree(tmp_path / "fsdp_half", tmp_path / "fsdp_half_copy")
    same(resumed, pretrain("fsdp_half", 8, 2, "--resume"))  # FSDP -> FSDP
    same(resumed, pretrain("fsdp_half_copy", 8, 1, "--resume"))  # FSDP -> one process
    with pytest.raises(AssertionError):  # the check can tell: a run of 8 steps straight differs
        same(resumed, one)


def test_export_to_hf_gives_the_same_logits(tmp_path, capsys, corpus):
    transformers = pytest.importorskip("transformers")
    from genolm.train.checkpoint import load_model

    run = tmp_path / "run"
    assert run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "3"], capsys)[0] == 0
    code, out, err = run_cli(["export", run, "--to", "hf", tmp_path / "hf"], capsys)
    assert code == 0, err
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf", torch_dtype=torch.float32).eval()
    model, tok, _ = load_model(run)
    ids = torch.as_tensor(tok.encode("ACGTTGCA" * 8), dtype=torch.long)[None]
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), atol=1e-5, rtol=1e-5)
    assert (tmp_path / "hf" / "genolm_tokenizer.json").is_file()
    code, _, err = run_cli(["export", tmp_path / "nothing", "--to", "hf", tmp_path / "x"], capsys)
    assert code == 2 and "no such run directory" in err


def test_resume_keeps_the_runs_settings(tmp_path, capsys, corpus):
    run = tmp_path / "run"
    args = ["pretrain", "--data", corpus, "--out", run, *FAST, "--objective", "mlm", "--steps", "3"]
    assert run_cli(args, capsys)[0] == 0
    # Only --resume and a longer --steps: the objective, model and data come from the run.
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, "--steps", "5", "--resume"], capsys)
    assert code == 0, err
    meta = json.loads((run / "checkpoint" / "meta.json").read_text())
    assert meta["step"] == 5 and meta["objective"] == "mlm"
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, "--steps", "6", "--resume",
                            "--objective", "clm"], capsys)
    assert code == 2 and "--objective differs" in err


def test_evaluate_table_with_markov(tmp_path, capsys, corpus):
    run = tmp_path / "run"
    code, out, _ = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "3"], capsys)
    assert code == 0 and "more than a blind guess among A, C, G and T (2 bits)" in out
    code, out, err = run_cli(["evaluate", "--data", corpus, "--markov", "4", run, "--out", tmp_path / "t.tsv",
                              "--device", "cpu"], capsys)
    assert code == 0, err
    lines = (tmp_path / "t.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:2] == ["model", "params"] and len(lines) == 3
    bpb = {line.split("\t")[0]: float(line.split("\t")[4]) for line in lines[1:]}
    assert 1.0 < bpb.pop("Markov k<=4") < 2.1  # 18S + lambda: well below 2 bits with k <= 4
    assert all(0 < v < np.log2(86) + 0.5 for v in bpb.values())  # 3 steps: barely trained
    assert "val bits/base" in out
    # 3 steps: worse than a blind guess, and the baseline wins; the table says so in words
    assert "The Markov k<=4 baseline beats every network here: they trained on at most 1,536 tokens" in out
    assert "more than a blind guess (2 bits)" in out


def test_an_empty_validation_split_is_said_by_pretrain_and_refused_by_evaluate(tmp_path, capsys):
    empty = tmp_path / "empty"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz")], out=str(empty), window=64, val_fraction=0.0,
                        no_progress=True))
    code, out, err = run_cli(["pretrain", "--data", empty, "--out", tmp_path / "run", *FAST, "--steps", "2"], capsys)
    assert code == 0 and "has no validation windows: no held-out bits per base" in err and "val_bpb" not in out
    code, out, err = run_cli(["evaluate", "--data", empty, "--markov", "3"], capsys)
    assert code == 2 and "validation split is empty" in err and "--val-fraction" in err and "nan" not in out


def test_evaluate_markov_fit_on_another_corpus(tmp_path, capsys, corpus):
    """An evaluation-only corpus (--val-fraction 1) has no training split: the Markov model is fit on
    --markov-data's training split and scores the test corpus's records."""
    test = tmp_path / "test"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz")], out=str(test), window=64, val_fraction=1.0,
                        no_progress=True))
    code, _, err = run_cli(["evaluate", "--data", test, "--markov", "3"], capsys)
    assert code == 2 and "no training records" in err and "--markov-data" in err
    code, out, err = run_cli(["evaluate", "--data", test, "--markov", "3", "--markov-data", corpus,
                              "--out", tmp_path / "t.tsv"], capsys)
    assert code == 0, err
    row = (tmp_path / "t.tsv").read_text().splitlines()[1].split("\t")
    assert row[0] == "Markov k<=3" and 1.5 < float(row[4]) < 2.1
    assert int(row[5]) >= 48_000  # the whole lambda genome (48.5 kb) is scored


def test_markov_weights_skip_tails_that_copy_the_training_heads():
    """Sibling strains: record B's last 5% is a copy of record A's sequence, so it is left out of
    the weight fitting; A's own (novel) tail stays."""
    from genolm.train.evaluation import weight_fitting_tails

    rng = np.random.default_rng(0)
    a = "".join(rng.choice(list("ACGT"), 40_000))
    b_head = "".join(rng.choice(list("ACGT"), 38_000))
    b = b_head + a[5_000:7_000]  # B's last 2,000 bases (5%) appear in A's head
    train = [a, b]
    heads = [s[: len(s) - len(s) // 20] for s in train]
    tails = weight_fitting_tails(train, heads)
    assert tails == [a[len(heads[0]):]]


class FakeClock:
    """A --minutes planner's clock that moves ``seconds`` each time it is read (once per step):
    the plan is the same on a fast machine and on a loaded one."""

    def __init__(self, seconds: float) -> None:
        self.now, self.seconds = 0.0, seconds

    def __call__(self) -> float:
        self.now += self.seconds
        return self.now


def test_minutes_plans_the_step_count_and_ends_the_schedule(tmp_path, capsys, corpus, monkeypatch):
    from genolm.train import loop

    monkeypatch.setattr(loop, "budget_clock", FakeClock(0.125))  # 0.125 s per step
    run = tmp_path / "run"
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "100000",
                            "--minutes", "0.08", "--eval-every", "100000", "--save-every", "100000"], capsys)
    assert code == 0, err
    meta = json.loads((run / "checkpoint" / "meta.json").read_text())
    steps = meta["step"]
    # 4.8 s: 2.5 s spent by the plan at step 20, 2.3 s left at 0.125 s per step: 18 more
    assert steps == 38 and "125 ms per step: 38 steps fit in 0.08 minutes" in err
    assert "warmup" not in err
    rows = [r for r in metrics(run) if "loss" in r]
    assert rows[-1]["step"] == steps and any("val_bpb" in r for r in metrics(run))
    # The cosine schedule was re-planned to end at the planned step (10% of the peak rate there).
    assert rows[-1]["lr"] == pytest.approx(1e-3 * 0.1, rel=1e-6)
    # Before the plan (step 20) the default warmup ramps over 100 steps, not 5% of --steps' bound.
    early = [r for r in rows if r["step"] < 20]
    assert early and all(r["lr"] >= 1e-3 * r["step"] / 100 for r in early), early
    saved = json.loads((run / "checkpoint" / "config.json").read_text())["args"]
    assert saved["steps"] == steps and saved["minutes"] is None and saved["warmup"] == max(1, steps // 20)


def test_minutes_spent_at_the_first_plan_still_logs_the_last_step(tmp_path, capsys, corpus):
    # The budget is gone by the first plan (step 20), which is not a multiple of --log-every: the
    # run ends there, and its last step and validation must still be in metrics.jsonl.
    run = tmp_path / "run"
    args = [a for a in FAST if a not in ("--log-every", "1")]
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", run, *args, "--log-every", "1000", "--steps", "100000",
                            "--minutes", "0.00001", "--eval-every", "100000", "--save-every", "100000"], capsys)
    assert code == 0, err
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 20
    rows = metrics(run)
    assert [r["step"] for r in rows if "loss" in r] == [20]
    assert [r["step"] for r in rows if "val_bpb" in r] == [20]
    # ... and it says the run ended while the learning rate was still warming up
    assert "spent by step 20, inside the learning-rate warmup (100 steps)" in err, err


def test_minutes_warns_only_when_the_budget_ends_inside_warmup(capsys):
    from genolm.train import loop

    sched = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                              lambda s: 1.0)
    for seconds_per_step, user_warmup, warned in ((10.0, None, True), (10.0, 5, False), (0.1, None, False)):
        args = TrainArgs(data="c", out="r", steps=1000, minutes=1, eval_every=50, warmup=user_warmup)
        budget = loop._Budget(args, loop.distributed.Dist(), 0, clock=FakeClock(seconds_per_step))
        budget.provisional(sched)
        for done in range(1, 1001):
            if budget.check(done, sched, {"args": {}}, None):
                break
        err = capsys.readouterr().err
        assert ("inside the learning-rate warmup" in err) == warned, (seconds_per_step, user_warmup, err)


def test_minutes_budget_already_spent_stops_at_the_next_validation(monkeypatch):
    from genolm.train import loop

    clock = [0.0]
    args = TrainArgs(data="c", out="r", steps=1000, minutes=1, eval_every=50)
    sched = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                              lambda s: 1.0)
    config = {"args": {"steps": 1000, "minutes": 1}}
    clock[0] = 0.0
    budget = loop._Budget(args, loop.distributed.Dist(), 0, clock=lambda: clock[0])
    for done in range(1, 60):
        clock[0] = done * 1.0  # one second per step: 60 steps would fit
        if budget.check(done, sched, config, None):
            break
    assert args.steps == 60 and config["args"] == {"steps": 60, "warmup": 3, "minutes": None}
    assert sched.lr_lambdas[0](60) == pytest.approx(0.1) and sched.lr_lambdas[0](0) == pytest.approx(1 / 3)
    args = TrainArgs(data="c", out="r", steps=1000, minutes=1, eval_every=50)
    clock[0] = 0.0
    budget = loop._Budget(args, loop.distributed.Dist(), 0, clock=lambda: clock[0])
    for done in range(1, 200):
        clock[0] = done * 1.0 if done <= 20 else 20 + (done - 20) * 5.0  # slows down 5x after planning
        if budget.check(done, sched, config, None):
            break
    assert done == 50 and args.steps == 50 and config["args"]["steps"] == 50
    # Faster after planning: the next validation plans again, and the schedule ends later.
    args = TrainArgs(data="c", out="r", steps=1000, minutes=1, eval_every=50)
    clock[0] = 0.0
    budget = loop._Budget(args, loop.distributed.Dist(), 0, clock=lambda: clock[0])
    for done in range(1, 51):
        clock[0] = done * 1.0 if done <= 20 else 20 + (done - 20) * 0.5
        assert not budget.check(done, sched, config, None)
    assert args.steps == 50 + int(25 / (30 / 45)) and sched.lr_lambdas[0](args.steps) == pytest.approx(0.1)


def test_init_continues_from_another_runs_weights(tmp_path, capsys, corpus):
    from safetensors.torch import load_file

    first = tmp_path / "first"
    assert run_cli(["pretrain", "--data", corpus, "--out", first, *FAST, "--objective", "mlm", "--steps", "4",
                    "--window", "32"], capsys)[0] == 0
    # A different window (the corpus's 64) and flavor flag: the model comes from --init.
    second = tmp_path / "second"
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", second, *FAST, "--model", "tiny",
                            "--objective", "mlm", "--steps", "1", "--lr", "1e-9", "--init", first], capsys)
    assert code == 0, err
    a = load_file(first / "checkpoint" / "model.safetensors")
    b = load_file(second / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:  # one step at lr 1e-9 (and its 1e-10 weight decay) leaves the weights as they were
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    saved = json.loads((second / "checkpoint" / "config.json").read_text())
    assert saved["model"]["d_model"] == 32 and saved["args"]["init"] == str(first)
    code, _, err = run_cli(["pretrain", "--data", corpus, "--out", tmp_path / "c", *FAST, "--objective", "clm",
                            "--steps", "1", "--init", first], capsys)
    assert code == 2 and "--objective differs from the --init run's" in err
    # A corpus prepared with another policy for unknown letters has the same vocabulary: accepted.
    lenient = tmp_path / "lenient"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz"), str(DATA / "biomarks18S_2k.fasta.gz")],
                        out=str(lenient), window=64, val_fraction=0.1, unknown="n", workers=1, no_progress=True))
    code, _, err = run_cli(["pretrain", "--data", lenient, "--out", tmp_path / "e", *FAST, "--objective", "mlm",
                            "--steps", "1", "--init", first], capsys)
    assert code == 0, err
    other = tmp_path / "kmer"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz")], out=str(other), window=64, val_fraction=0.1,
                        tokenizer="kmer:3", workers=1, no_progress=True))
    capsys.readouterr()  # prepare's own warning (one record: no validation split)
    code, _, err = run_cli(["pretrain", "--data", other, "--out", tmp_path / "d", *FAST, "--objective", "mlm",
                            "--steps", "1", "--init", first], capsys)
    assert code == 2 and "another tokenizer" in err and len(err.strip().splitlines()) == 1


def test_patience_stops_on_the_validation_loss_and_keeps_the_best_checkpoint(tmp_path, capsys, corpus, monkeypatch):
    """Scripted validations (every 2 steps): the best is the 2nd (step 4); with --patience 2 the run
    stops at the 4th (step 8), and the checkpoint, its weights and its training state are step 4's."""
    from safetensors.torch import load_file

    import genolm.train.loop as loop

    scripted = iter([3.0, 2.0, 2.5, 2.1, 1.0, 0.5])
    seen = {}
    real_save = loop.checkpoint.save_checkpoint

    def fake_evaluate(*a, **k):
        v = next(scripted)
        return {"val_loss": v, "val_bpb": v / np.log(2), "val_tokens": 10}

    def spy_save(run, *, state_dict, meta, **k):  # the weights as they were when each checkpoint was saved
        seen[meta["step"]] = {n: t.clone() for n, t in state_dict.items()}
        return real_save(run, state_dict=state_dict, meta=meta, **k)

    monkeypatch.setattr(loop, "evaluate", fake_evaluate)
    monkeypatch.setattr(loop.checkpoint, "save_checkpoint", spy_save)
    run = tmp_path / "run"
    code, out, err = run_cli(["pretrain", "--data", corpus, "--out", run, *FAST, "--steps", "20", "--eval-every", "2",
                              "--save-every", "1", "--patience", "2", "--lr", "0.01"], capsys)
    assert code == 0, err
    assert max(r["step"] for r in metrics(run)) == 8  # stopped after two validations without a new best
    assert sorted(seen) == [2, 4]  # saved at each new best, never at the periodic --save-every
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["step"] == 4
    state = torch.load(run / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["step"] == 4 and state["best"]["step"] == 4 and state["best"]["val_loss"] == 2.0
    saved = load_file(run / "checkpoint" / "model.safetensors")
    assert all(torch.equal(saved[n], seen[4][n].float().cpu() if saved[n].dtype == torch.float32 else saved[n])
               for n in saved)
    assert "step 4's" in out and "no lower validation loss in 2 validations" in out + err


def test_patience_needs_validation_windows(tmp_path, capsys):
    data = tmp_path / "corpus"
    prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz")], out=str(data), window=64, val_fraction=0.0,
                        workers=1, no_progress=True))
    code, _, err = run_cli(["pretrain", "--data", data, "--out", tmp_path / "run", *FAST, "--steps", "4",
                            "--patience", "1"], capsys)
    assert code == 2 and "--patience" in err and "--val-fraction" in err
