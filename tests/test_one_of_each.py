"""One of each: every trainer steps through the one fitting loop (genolm.train.loop.fit), and
every likelihood of whole sequences goes through the one function that weights by bases
(genolm.infer.likelihood.nats_and_bases).  Spies count the calls; the losses seen through the
loop fall."""

import numpy as np
import pytest
import torch

from conftest import DATA, history, motif_split, run_cli, write_csv, write_history


def loss_of(value) -> float:
    if isinstance(value, tuple):  # pretrain: (summed nats, scored tokens)
        return value[0] / max(value[1], 1)
    return float(value)


@pytest.fixture
def fits(monkeypatch):
    """The calls of the fitting loop: the losses each run's steps returned."""
    from genolm.train import loop

    calls, real = [], loop.fit

    def spy(model, optimizer, scheduler, backward, **kw):
        losses = []
        calls.append(losses)

        def recorded(step):
            out = backward(step)
            losses.append(loss_of(out))
            return out

        return real(model, optimizer, scheduler, recorded, **kw)

    monkeypatch.setattr(loop, "fit", spy)
    return calls


def test_pretrain_finetune_and_the_forecasting_model_train_through_the_one_loop(tmp_path, capsys, fits):
    corpus = tmp_path / "corpus"
    assert run_cli(["prepare", DATA / "lambda.fasta.gz", DATA / "biomarks18S_2k.fasta.gz", "--out", corpus,
                    "--window", "64", "--no-progress"], capsys)[0] == 0
    assert run_cli(["pretrain", "--data", corpus, "--out", tmp_path / "run", "--model", "debug", "--steps", "40",
                    "--batch-size", "8", "--lr", "0.01", "--eval-batches", "1", "--device", "cpu"], capsys)[0] == 0
    train = write_csv(tmp_path / "train.csv", motif_split(200, 0))
    val = write_csv(tmp_path / "val.csv", motif_split(60, 1))
    assert run_cli(["finetune", "--model", "cnn", "--flavor", "debug", "--train", train, "--val", val, "--test", val,
                    "--epochs", "4", "--batch-size", "16", "--lr", "5e-3", "--out", tmp_path / "ft", "--device", "cpu",
                    "--no-progress"], capsys)[0] == 0
    flu = write_history(tmp_path / "flu.fa", history())
    assert run_cli(["evolve", "--data", flu, "--until", "2001", "--steps", "30", "--batch-size", "8",
                    "--out", tmp_path / "evo", "--device", "cpu", "--no-progress"], capsys)[0] == 0
    assert [len(c) for c in fits] == [40, 4 * 13, 30]  # 200 sequences in batches of 16: 13 steps an epoch
    for losses in fits:  # each of them learns through it
        assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.05, losses


def test_every_sequence_likelihood_goes_through_the_one_function(tmp_path, capsys, monkeypatch):
    from genolm.infer import likelihood

    calls, real = [], likelihood.nats_and_bases

    def spy(*a, **kw):
        calls.append(kw.get("weight"))
        return real(*a, **kw)

    monkeypatch.setattr(likelihood, "nats_and_bases", spy)
    flu = write_history(tmp_path / "flu.fa", history())
    assert run_cli(["evolve", "--data", flu, "--until", "2001", "--steps", "3", "--batch-size", "4",
                    "--out", tmp_path / "evo", "--device", "cpu", "--no-progress"], capsys)[0] == 0
    assert len(calls) == 1 and calls[0] is not None  # the strain pick: A/C/G/T scored, N not
    rng = np.random.default_rng(0)
    (tmp_path / "gen.fa").write_text("".join(f">g{i}\n{''.join(rng.choice(list('ACGT'), 300))}\n" for i in range(4)))
    assert run_cli(["viability", tmp_path / "gen.fa", "--reference", DATA / "lambda.fasta.gz", "--model",
                    tmp_path / "evo" / "checkpoint", "--max-reference", "12", "--folds", "2", "--markov-order", "3",
                    "--device", "cpu", "--out", tmp_path / "v", "--no-progress"], capsys)[0] == 0
    assert len(calls) == 2 and calls[1] is None  # every set and the reference windows in one call, by bases


def test_the_training_loops_validation_uses_the_same_scoring(monkeypatch):
    # The per-token core of the one likelihood is genolm.train.losses.scored_nats; the training
    # loop's validation calls it too (bits per base of a masked or causal model, any tokenizer).
    from genolm.train import loop

    seen = []
    real = loop.scored_nats

    def spy(logits, targets, weight):
        seen.append(tuple(logits.shape))
        return real(logits, targets, weight)

    monkeypatch.setattr(loop, "scored_nats", spy)
    from genolm.model import build_model, config_for
    from genolm.tokenize import get_tokenizer
    from genolm.train.args import TrainArgs
    from genolm.train.distributed import Dist

    tok = get_tokenizer("char")
    model = build_model(config_for("debug", vocab_size=tok.vocab_size))
    val = [np.array([2] + list(tok.encode("ACGTACGTAC")), np.int64)] * 3
    args = TrainArgs(data="c", out="r", batch_size=2, eval_batches=2)
    metrics = loop.evaluate(model, val, tok, args, Dist(), None, torch.as_tensor(tok.advance, dtype=torch.float64))
    assert len(seen) == 2 and metrics["val_bpb"] > 0


def test_score_generate_and_evaluation_run_the_one_transformer_forward(tmp_path, capsys, monkeypatch):
    from genolm.model.transformer import Transformer

    assert [m for m in vars(Transformer) if m.startswith(("forward_", "decode"))] == []  # no second path
    seen = []
    real = Transformer.forward

    def spy(self, input_ids, doc_ids=None, n_blocks=None, cache=None):
        seen.append(type(cache).__name__)
        return real(self, input_ids, doc_ids, n_blocks, cache)

    monkeypatch.setattr(Transformer, "forward", spy)
    corpus, run = tmp_path / "corpus", tmp_path / "run"
    assert run_cli(["prepare", DATA / "lambda.fasta.gz", "--out", corpus, "--split", "region", "--window", "64",
                    "--no-progress"], capsys)[0] == 0
    assert run_cli(["pretrain", "--data", corpus, "--out", run, "--model", "debug", "--steps", "2", "--batch-size", "2",
                    "--eval-batches", "1", "--device", "cpu"], capsys)[0] == 0
    assert "NoneType" in seen  # training and validation: no cache
    seen.clear()
    (tmp_path / "one.fa").write_text(">one\nACGTACGTTGCATGCAACGT\n")
    assert run_cli(["score", tmp_path / "one.fa", "--model", run, "--out", tmp_path / "s.parquet", "--device", "cpu",
                    "--no-progress"], capsys)[0] == 0
    assert {"KVCache", "PrefixCache"} <= set(seen)  # the reference once, then every substitution after it
    seen.clear()
    assert run_cli(["generate", "--model", run, "--num", "2", "--length", "10", "--out", tmp_path / "g.fa",
                    "--device", "cpu", "--no-progress"], capsys)[0] == 0
    assert set(seen) == {"KVCache"} and len(seen) == 10  # the prompt, then one token a step
