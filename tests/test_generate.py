"""genolm generate: the static cache gives exactly the full-pass states, seeded sampling repeats,
the prompt is honoured, long sequences continue past the window, bad input is one line."""

import numpy as np
import pytest
import torch

from conftest import run_cli
from genolm.model import build_model, config_for
from genolm.infer.sampling import choose, filter_logits, sample_batch
from genolm.tokenize import SEP, get_tokenizer

TOK = get_tokenizer("char")
LETTERS = np.array([TOK.token_to_id(c) for c in "ACGT"])


def model(seed=0, causal=True, **kw):
    torch.manual_seed(seed)
    return build_model(config_for("debug", vocab_size=TOK.vocab_size, causal=causal, **kw)).eval()


def uniform_model():
    """A model whose every draw is uniform over the vocabulary (a zero head): with <sep> among
    the five allowed tokens, a row ends one time in five."""
    m = model()
    with torch.no_grad():
        m.lm_head.weight.zero_()
        if m.lm_head.bias is not None:
            m.lm_head.bias.zero_()
    return m


def save_run(path, m):
    from genolm.train.checkpoint import save_checkpoint

    TOK.save(path.parent / "tok.json")
    save_checkpoint(path, state_dict=m.state_dict(), config={"model": m.config.to_dict()},
                    tokenizer=path.parent / "tok.json", train_state={}, meta={})
    return path


def read_fasta(path):
    out, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = ""
        else:
            out[name] += line
    return out


def test_cached_states_equal_a_full_pass():
    b = model().backbone
    ids = torch.randint(LETTERS.min(), LETTERS.max() + 1, (3, 40))
    full = b(ids)
    with torch.no_grad():
        cache = b.new_cache(3, torch.float32, "cpu")
        steps = [b(ids[:, :25], cache=cache)] + [b(ids[:, t: t + 1], cache=cache) for t in range(25, 40)]
        assert cache.start == 40 and torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
        cache = b.new_cache(3, torch.float32, "cpu")
        b(ids[:, :10], cache=cache)
        assert torch.allclose(b(ids[:, 10:], cache=cache), full[:, 10:], atol=1e-5)  # a block after a prefix
        cache.start = 0  # a refill from the start overwrites what was there
        assert torch.allclose(b(ids[:, :30], cache=cache), full[:, :30], atol=1e-5)


def test_greedy_decoding_equals_argmax_of_full_passes():
    m = model()
    prefix = np.r_[SEP, TOK.encode("ACGTTGCA")].astype(np.int64)
    got = sample_batch(m, prefix, LETTERS, 2, 20, temperature=0, top_k=0, top_p=1, generator=None, device="cpu")
    ids = torch.as_tensor(prefix)[None]
    for _ in range(20):  # the naive way: a full forward pass per new base
        logits = m(ids)[0, -1, torch.as_tensor(LETTERS)]
        ids = torch.cat([ids, torch.as_tensor([[LETTERS[int(logits.argmax())]]])], 1)
    assert (got[0] == ids[0, len(prefix):].numpy()).all() and (got[1] == got[0]).all()


def test_past_the_window_it_continues_from_the_last_half():
    m = model(max_len=32)
    calls = []
    real = m.backbone.forward
    m.backbone.forward = lambda ids, cache=None: (cache is not None and calls.append((ids[0].tolist(), cache.start))
                                                  or real(ids, cache=cache))
    prefix = np.array([SEP])
    got = sample_batch(m, prefix, LETTERS, 1, 70, temperature=0, top_k=0, top_p=1, generator=None, device="cpu")
    seq = [SEP] + got[0].tolist()
    # from token 32 on (the window is full), each token is predicted from the last 16 tokens
    # re-read from position 0 and what followed them, until the window fills again
    for j in range(16):
        logits = m(torch.as_tensor([seq[16: 32 + j]]))[0, -1, torch.as_tensor(LETTERS)]
        assert seq[32 + j] == LETTERS[int(logits.argmax())]
    assert set(got[0]) <= set(LETTERS)
    refills = [(ids, start) for ids, start in calls if len(ids) > 1]
    assert refills[0] == (seq[16:32], 0) and refills[1] == (seq[32:48], 0)
    assert [start for ids, start in calls if len(ids) == 1][:4] == [0, 1, 2, 3]  # the <sep> prompt, then one by one


def test_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 1.0, 2, 1.0)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, 1.0, 0, 0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, 1.0, 0, 0.5)).tolist() == [[False, True, True, True]]
    assert not torch.isinf(filter_logits(logits, 2.0, 0, 1.0)).any()


def test_generate_command_seeded_prompted_and_streamed(tmp_path, capsys):
    run = save_run(tmp_path / "run", model())
    base = ["generate", "--model", run, "--num", "5", "--length", "50", "--batch-size", "2", "--device", "cpu"]
    assert run_cli(base + ["--out", tmp_path / "a.fa", "--seed", "7"], capsys)[0] == 0
    assert run_cli(base + ["--out", tmp_path / "b.fa", "--seed", "7"], capsys)[0] == 0
    assert run_cli(base + ["--out", tmp_path / "c.fa", "--seed", "8"], capsys)[0] == 0
    a, b, c = (read_fasta(tmp_path / f"{x}.fa") for x in "abc")
    assert a == b and a != c and list(a) == [f"gen_{i}" for i in range(1, 6)]
    assert all(len(s) == 50 and set(s) <= set("ACGT") for s in a.values())
    assert len(set(a.values())) == 5  # sampled, not one sequence five times
    (tmp_path / "p.fa").write_text(">p\nATGAAACGC\n")
    code, out, _ = run_cli(base + ["--out", tmp_path / "p_out.fa", "--prompt", tmp_path / "p.fa"], capsys)
    assert code == 0 and "bases/s" in out
    assert all(s.startswith("ATGAAACGC") and len(s) == 59 for s in read_fasta(tmp_path / "p_out.fa").values())
    code, _, _ = run_cli(base + ["--out", tmp_path / "k.fa", "--prompt", "acgt", "--top-k", "1"], capsys)
    k = read_fasta(tmp_path / "k.fa")  # top-k 1 is greedy: every row the same
    assert code == 0 and len(set(k.values())) == 1 and next(iter(k.values())).startswith("ACGT")


@pytest.mark.parametrize("extra, message", [
    (["--prompt", "ACGXT"], "the prompt has a letter"), (["--length", "0"], "at least 1"),
    (["--top-p", "0"], "bad value for --top-p"), (["masked"], "needs a causal transformer"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, extra, message):
    run = save_run(tmp_path / "run", model(causal=extra != ["masked"]))
    argv = ["generate", "--model", run, "--length", "10", "--out", tmp_path / "g.fa", "--device", "cpu"]
    code, _, err = run_cli(argv + ([] if extra == ["masked"] else extra), capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.fa").exists()


def test_a_static_cache_step_equals_the_sliced_cache():
    b = model().backbone
    ids = torch.randint(LETTERS.min(), LETTERS.max() + 1, (3, 30))
    full = b(ids)
    with torch.no_grad():
        cache = b.new_cache(3, torch.float32, "cpu")
        b(ids[:, :12], cache=cache)
        position = torch.tensor([12])
        static = cache.at(position)
        steps = [b(ids[:, t: t + 1], cache=static)[:, -1] for t in range(12, 30)]
    assert int(position) == 30 and torch.allclose(torch.stack(steps, 1), full[:, 12:], atol=1e-5)


@pytest.mark.parametrize("temperature, top_k, top_p, min_p", [(1.0, 0, 1.0, 0.0), (0.8, 3, 0.9, 0.0), (0, 0, 1.0, 0.0),
                                                         (1.5, 0, 1.0, 0.2)])
def test_static_engine_draws_what_eager_draws(temperature, top_k, top_p, min_p):
    # the fixed-shape step that CUDA graphs capture, run here without capture: same bases as the
    # eager loop for the same seed, through two refills of a 32-token window
    m = model(max_len=32)
    prefix = np.r_[SEP, TOK.encode("ACGTAC")].astype(np.int64)
    kw = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, device="cpu")
    eager = sample_batch(m, prefix, LETTERS, 4, 80, generator=torch.Generator().manual_seed(3), engine="eager", **kw)
    static = sample_batch(m, prefix, LETTERS, 4, 80, generator=torch.Generator().manual_seed(3), engine="static", **kw)
    assert (eager == static).all()
    other = sample_batch(m, prefix, LETTERS, 4, 80, generator=torch.Generator().manual_seed(4), engine="static", **kw)
    assert temperature == 0 or (other != static).any()


def test_gumbel_draws_follow_the_filtered_softmax():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(40000, -1)
    noise = torch.rand(40000, 4, generator=torch.Generator().manual_seed(0))
    freq = np.bincount(choose(logits, noise, 1.0, 0, 1.0).numpy(), minlength=4) / 40000
    assert np.abs(freq - [0.5, 0.3, 0.15, 0.05]).max() < 0.01
    freq = np.bincount(choose(logits, noise, 1.0, 0, 0.7).numpy(), minlength=4) / 40000  # nucleus: A, C
    assert np.abs(freq - [0.5 / 0.8, 0.3 / 0.8, 0, 0]).max() < 0.01
    freq = np.bincount(choose(logits, noise, 2.0, 0, 1.0).numpy(), minlength=4) / 40000  # flatter
    p = np.sqrt([0.5, 0.3, 0.15, 0.05])
    assert np.abs(freq - p / p.sum()).max() < 0.01
    # min-p on the model's own odds (0.15 / 0.5 >= 0.25 stays, 0.05 / 0.5 goes), then the temperature
    freq = np.bincount(choose(logits, noise, 2.0, 0, 1.0, min_p=0.25).numpy(), minlength=4) / 40000
    p = np.sqrt([0.5, 0.3, 0.15, 0])
    assert np.abs(freq - p / p.sum()).max() < 0.01


def test_lstm_steps_equal_a_full_pass_and_generate():
    m = model(family="lstm", seed=1)
    ids = torch.randint(LETTERS.min(), LETTERS.max() + 1, (2, 25))
    full = m.backbone(ids)
    h, state = m.backbone.forward_step(ids[:, :10])
    steps = [h]
    for t in range(10, 25):
        h, state = m.backbone.forward_step(ids[:, t: t + 1], state)
        steps.append(h)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    prefix = np.array([SEP])
    got = sample_batch(m, prefix, LETTERS, 1, 15, temperature=0, top_k=0, top_p=1, generator=None, device="cpu")
    seq = torch.as_tensor(prefix)[None]
    for _ in range(15):
        seq = torch.cat([seq, torch.as_tensor([[LETTERS[int(m(seq)[0, -1, torch.as_tensor(LETTERS)].argmax())]]])], 1)
    assert (got[0] == seq[0, 1:].numpy()).all()


def conditioned_run(tmp_path):
    from genolm.tokenize.conditions import ConditionCodec
    from genolm.train.checkpoint import save_checkpoint

    codec = ConditionCodec.fit({"temperature_c": [2.0, 8.0, 15.0, 22.0, 28.0], "layer": ["SUR", "DCM", "SUR", "MES", "SUR"]},
                               bins=2)
    m = model(max_len=32)
    TOK.save(tmp_path / "tok.json")
    save_checkpoint(tmp_path / "cond", state_dict=m.state_dict(), tokenizer=tmp_path / "tok.json", train_state={},
                    meta={}, config={"model": m.config.to_dict(), "conditions": codec.to_dict(), "window": 24})
    return tmp_path / "cond", m, codec


def test_conditions_lead_every_window(tmp_path, capsys, monkeypatch):
    run, m, codec = conditioned_run(tmp_path)
    calls = []
    real = type(m.backbone).forward
    monkeypatch.setattr(type(m.backbone), "forward",
                        lambda self, ids, cache=None: (cache is not None and calls.append(ids[0].tolist())
                                                       or real(self, ids, cache=cache)))
    argv = ["generate", "--model", run, "--num", "2", "--length", "40", "--device", "cpu", "--seed", "1"]
    code, _, _ = run_cli(argv + ["--out", tmp_path / "w.fa", "--condition", "temperature_c=25", "layer=DCM"], capsys)
    assert code == 0
    want = codec.ids({"temperature_c": 25.0, "layer": "DCM"}, TOK)
    windows = [c for c in calls if len(c) > 1]  # the prompt pass, then a refill whenever 24 tokens are in
    assert len(windows) >= 3 and all(c[:2] == want for c in windows)
    assert len(windows[1]) == 12 and SEP not in windows[0]  # the half window, conditions included
    gen = read_fasta(tmp_path / "w.fa")
    assert len(gen) == 2 and all(len(s) == 40 and set(s) <= set("ACGT") for s in gen.values())
    calls.clear()
    code, _, _ = run_cli(argv + ["--out", tmp_path / "x.fa", "--condition", "temperature_c=4"], capsys)
    cold = codec.ids({"temperature_c": 4.0}, TOK)
    assert code == 0 and calls[0][:2] == cold and cold[0] != want[0] and cold[1] == codec.ids({}, TOK)[1]  # layer unknown
    code, _, err = run_cli(argv + ["--out", tmp_path / "y.fa", "--condition", "salinity=35"], capsys)
    assert code == 2 and "not conditioned on 'salinity'" in err and not (tmp_path / "y.fa").exists()


def test_condition_or_graph_engine_refused_where_they_cannot_work(tmp_path, capsys):
    run = save_run(tmp_path / "run", model())
    argv = ["generate", "--model", run, "--length", "10", "--out", tmp_path / "g.fa", "--device", "cpu"]
    code, _, err = run_cli(argv + ["--condition", "temperature_c=4"], capsys)
    assert code == 2 and "needs a conditioned model" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(argv + ["--engine", "graph"], capsys)
    assert code == 2 and "needs a CUDA device" in err and not (tmp_path / "g.fa").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("engine", ["graph", "compile"])
def test_cuda_graph_engines_follow_eager_on_a_gpu(engine):
    m = model(max_len=32).cuda()
    prefix = np.r_[SEP, TOK.encode("ACGTAC")].astype(np.int64)
    kw = dict(temperature=1.0, top_k=0, top_p=1.0, device="cuda")
    eager = sample_batch(m, prefix, LETTERS, 8, 80, generator=torch.Generator("cuda").manual_seed(3), engine="eager", **kw)
    got = sample_batch(m, prefix, LETTERS, 8, 80, generator=torch.Generator("cuda").manual_seed(3), engine=engine, **kw)
    assert (got[:, :10] == eager[:, :10]).mean() > 0.9 and set(np.unique(got)) <= set(LETTERS)


@pytest.mark.parametrize("engine", ["eager", "static"])
def test_stop_at_end_cuts_each_row_at_its_sep_and_ends_once_all_have(tmp_path, capsys, engine):
    """A model that draws <sep> one time in five: every row ends early, sampling stops at the first
    check after the last row ended, and the command writes each row up to its own <sep>."""
    from genolm.infer.sampling import STOP_CHECK

    m = uniform_model()
    prefix = np.array([SEP], np.int64)
    draw = dict(temperature=1.0, top_k=0, top_p=1.0, device="cpu", engine=engine)
    ids = sample_batch(m, prefix, np.r_[LETTERS, SEP], 6, 1000, stop=SEP,
                       generator=torch.Generator().manual_seed(0), **draw)
    assert ids.shape[1] < 1000 and ids.shape[1] % STOP_CHECK == 0 and (ids == SEP).any(1).all()
    # ...and not a column before every row had ended
    assert not (ids[:, : ids.shape[1] - STOP_CHECK] == SEP).any(1).all()
    full = sample_batch(m, prefix, np.r_[LETTERS, SEP], 6, 1000, generator=torch.Generator().manual_seed(0), **draw)
    assert (ids[:, 0] != SEP).all()  # no empty rows
    assert full.shape[1] == 1000 and np.array_equal(full[:, 1: ids.shape[1]], ids[:, 1:])  # the same draws, only fewer

    run = save_run(tmp_path / "run", m)
    out = tmp_path / "g.fa"
    code, _, err = run_cli(["generate", "--model", run, "--num", "5", "--length", "300", "--stop-at-end",
                            "--out", out, "--device", "cpu", "--engine", engine, "--no-progress"], capsys)
    assert code == 0, err
    seqs = read_fasta(out)
    assert len(seqs) == 5 and all(set(s) <= set("ACGT") for s in seqs.values())
    assert max(map(len, seqs.values())) < 300 and len(set(map(len, seqs.values()))) > 1  # each its own length


@pytest.mark.parametrize("engine", ["eager", "static"])
def test_min_length_holds_every_row_open_until_then(tmp_path, capsys, engine):
    """The same one-in-five <sep> model: with min_stop no row ends before that draw (it would, at
    once, without it), the rows still end after it, and --min-length does the same in the command."""
    m = uniform_model()
    prefix = np.array([SEP], np.int64)
    draw = dict(temperature=1.0, top_k=0, top_p=1.0, device="cpu", engine=engine, stop=SEP)
    free = sample_batch(m, prefix, np.r_[LETTERS, SEP], 6, 400, generator=torch.Generator().manual_seed(0), **draw)
    held = sample_batch(m, prefix, np.r_[LETTERS, SEP], 6, 400, generator=torch.Generator().manual_seed(0),
                        min_stop=60, **draw)
    assert (free[:, :60] == SEP).any(1).sum() >= 5  # without it, rows end within 60 draws
    assert not (held[:, :60] == SEP).any() and (held == SEP).any(1).all()

    run = save_run(tmp_path / "run", m)
    out = tmp_path / "g.fa"
    code, _, err = run_cli(["generate", "--model", run, "--num", "5", "--length", "300", "--stop-at-end",
                            "--min-length", "120", "--out", out, "--device", "cpu", "--engine", engine,
                            "--no-progress"], capsys)
    assert code == 0, err
    lengths = list(map(len, read_fasta(out).values()))
    assert min(lengths) >= 120 and max(lengths) < 300
    code, _, err = run_cli(["generate", "--model", run, "--num", "5", "--length", "300", "--min-length", "120",
                            "--out", out, "--device", "cpu", "--no-progress"], capsys)
    assert code == 2 and "--stop-at-end" in err
