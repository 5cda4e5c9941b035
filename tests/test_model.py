"""One suite over every model family (transformer, LSTM, CNN) x {causal, bidirectional}.

Each test fails if the feature it names breaks: causality is checked exactly (atol 0), document
masking both exactly (other documents never leak in) and against each document run alone.
Everything runs on the ``debug`` flavor, except the parameter counts (built on the meta device).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from genolm.errors import GenolmError
from genolm.model import (FAMILIES, LanguageModel, ModelConfig, SequenceClassifier, build_model,
                          config_for, pool_hidden)
from genolm.model.config import default_d_ff
from genolm.model.transformer import segment_ids

V = 24
KINDS = [(family, causal) for family in FAMILIES for causal in (True, False)]
IDS = [f"{f}-{'causal' if c else 'bidir'}" for f, c in KINDS]


def make(family="transformer", causal=True, seed=0, **kw) -> LanguageModel:
    torch.manual_seed(seed)
    return build_model(config_for("debug", family, vocab_size=V, causal=causal, **kw)).eval()


def ids(B=2, T=16, seed=1) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=KINDS, ids=IDS)
def kind(request):
    return request.param


# ---- shapes and the forward contract -------------------------------------------------------------

def test_shapes(kind):
    model = make(*kind)
    x = ids(3, 11)
    with torch.no_grad():
        assert model(x).shape == (3, 11, V)
        assert model.hidden_states(x).shape == (3, 11, 32)
        assert model(x, doc_ids=torch.zeros_like(x)).shape == (3, 11, V)
    assert model.backbone.hidden_size == 32
    assert model.config.family == kind[0]


def test_bad_inputs_are_genolm_errors(kind):
    model = make(*kind)
    with pytest.raises(GenolmError, match="input_ids"):
        model(torch.randint(0, V, (16,)))  # no batch dimension
    with pytest.raises(GenolmError, match="input_ids"):
        model(torch.rand(2, 16))
    with pytest.raises(GenolmError, match="uint8"):
        model(ids(2, 16).to(torch.uint8))
    model(ids(2, 16).int())  # int32 is fine
    with pytest.raises(GenolmError, match="doc_ids"):
        model(ids(2, 16), doc_ids=torch.zeros(2, 15, dtype=torch.long))


def test_transformer_rejects_sequences_longer_than_max_len():
    model = make(max_len=8)
    model(ids(1, 8))
    with pytest.raises(GenolmError, match="max_len"):
        model(ids(1, 9))


# ---- causality -----------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [1, 7, 15])
def test_future_tokens_never_change_past_logits(kind, t):
    model = make(*kind)
    x = ids(2, 16)
    y = x.clone()
    y[:, t] = (y[:, t] + 1) % V
    with torch.no_grad():
        a, b = model(x), model(y)
    assert not torch.equal(a[:, t:], b[:, t:])  # the changed position itself always moves
    if kind[1]:
        assert torch.equal(a[:, :t], b[:, :t])  # atol 0
    else:
        assert not torch.allclose(a[:, :t], b[:, :t], atol=1e-6)  # bidirectional: the past sees it


# ---- document masking (packed sequences) ---------------------------------------------------------

def packed_batch():
    """Two rows of three documents each, with different boundaries."""
    doc = torch.tensor([[0] * 5 + [1] * 7 + [2] * 4,
                        [0] * 9 + [1] * 2 + [2] * 5])
    return ids(2, 16), doc


def test_documents_never_see_each_other(kind):
    model = make(*kind)
    x, doc = packed_batch()
    y = x.clone()
    y[doc == 1] = (y[doc == 1] + 1) % V  # change every token of document 1 (the middle one)
    with torch.no_grad():
        a, b = model(x, doc), model(y, doc)
        free_a, free_b = model(x), model(y)
    others = doc != 1
    assert torch.equal(a[others], b[others])  # atol 0: documents 0 and 2 never see document 1
    assert not torch.allclose(a[doc == 1], b[doc == 1])
    # Without doc_ids the later document does see it (for every family: all see the past).
    assert not torch.allclose(free_a[doc == 2], free_b[doc == 2], atol=1e-6)


def test_packed_document_equals_document_alone(kind):
    model = make(*kind)
    x, doc = packed_batch()
    with torch.no_grad():
        packed = model(x, doc)
        for r in range(2):
            for d in range(3):
                sel = doc[r] == d
                alone = model(x[r, sel][None])[0]
                torch.testing.assert_close(packed[r, sel], alone, atol=1e-5, rtol=1e-5)


def test_one_document_per_row_equals_no_doc_ids(kind):
    model = make(*kind)
    x = ids(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x, torch.full_like(x, 3)), model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
def test_flex_document_mask_equals_dense_mask(causal):
    """The flex-attention BlockMask used on GPUs keeps the same tokens apart as the dense mask
    (documents spanning 128-token tiles, and one that fills a row).  Forward only: flex has no CPU
    backward; benchmarks/pretrain/throughput.py --reads checks the gradients on a GPU."""
    from genolm.model.transformer import Transformer

    model = make("transformer", causal, max_len=320)
    body = next(m for m in model.modules() if isinstance(m, Transformer))
    x = ids(3, 300)
    doc = torch.tensor([[0] * 50 + [1] * 150 + [2] * 100, [4] * 300, [0] * 130 + [1] * 170])
    out = {}
    for how in ("dense", "flex"):
        body.doc_attention = how
        with torch.no_grad():
            out[how] = model(x, doc)
    torch.testing.assert_close(out["flex"], out["dense"], atol=1e-5, rtol=1e-5)
    body.doc_attention = "auto"  # on CPU: the dense mask
    with torch.no_grad():
        assert torch.equal(model(x, doc), out["dense"])


def test_documents_are_runs_of_equal_ids():
    doc = torch.tensor([[7, 7, 3, 3, 3, 7], [0, 0, 0, 0, 0, 0]])
    assert segment_ids(doc).tolist() == [[0, 0, 1, 1, 1, 2], [0, 0, 0, 0, 0, 0]]


# ---- training, determinism, init -----------------------------------------------------------------

def pattern_batch(B=8, T=24, period=5, gen=None) -> torch.Tensor:
    """Rows of one repeating motif (period 5, distinct tokens) at a random phase."""
    motif = torch.tensor([3, 11, 7, 19, 5])
    phase = torch.randint(0, period, (B, 1), generator=gen)
    return motif[(torch.arange(T)[None] + phase) % period]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_few_hundred_steps_drive_the_clm_loss_down(family):
    torch.manual_seed(0)
    model = build_model(config_for("debug", family, vocab_size=V))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)

    def loss_of(x):
        logits = model(x[:, :-1])  # (B, T-1, V): predict token t+1 from tokens <= t
        return F.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))

    first = loss_of(pattern_batch(gen=gen)).item()
    for _ in range(200):
        loss = loss_of(pattern_batch(gen=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        last = loss_of(pattern_batch(gen=gen)).item()
    assert first > 2.5  # ~ln(24) at init
    assert last < first / 20, (family, first, last)


def test_same_seed_same_model_and_outputs(kind):
    a, b, c = make(*kind, seed=0), make(*kind, seed=0), make(*kind, seed=1)
    x = ids()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
        assert not torch.allclose(a(x), c(x))
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)


def test_dropout_only_in_training(kind):
    model = make(*kind, dropout=0.5)
    x = ids()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_build_on_meta_then_initialise(kind):
    cfg = config_for("debug", kind[0], vocab_size=V, causal=kind[1])
    with torch.device("meta"):
        model = build_model(cfg)
    assert all(p.is_meta for p in model.parameters())
    model.to_empty(device="cpu")
    model.init_weights()
    model.eval()
    assert model.lm_head.weight is model.backbone.embed.weight  # tied again after to_empty
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.no_grad():
        assert torch.isfinite(model(ids())).all()
    if kind[0] == "transformer":  # rotary tables are buffers, recomputed by init_weights
        reference = build_model(cfg)
        torch.testing.assert_close(model.backbone.rope_cos, reference.backbone.rope_cos, atol=0, rtol=0)
        torch.testing.assert_close(model.backbone.rope_sin, reference.backbone.rope_sin, atol=0, rtol=0)


def test_residual_projections_get_scaled_init():
    torch.manual_seed(0)
    model = build_model(config_for("small", vocab_size=V))
    block = model.backbone.layers[0]
    std = 0.02 / (2 * 6) ** 0.5
    assert abs(block.attn.qkv.weight.std().item() - 0.02) < 2e-3
    assert abs(block.attn.out.weight.std().item() - std) < 1e-3
    assert abs(block.mlp.down.weight.std().item() - std) < 1e-3
    assert torch.equal(block.attn_norm.weight, torch.ones(384))


def test_tied_and_untied_embeddings():
    tied, untied = make(), make(tie_embeddings=False)
    assert tied.lm_head.weight is tied.backbone.embed.weight
    assert untied.lm_head.weight is not untied.backbone.embed.weight
    assert untied.num_params() - tied.num_params() == V * 32
    assert untied.num_params(non_embedding=True) == tied.num_params(non_embedding=True)
    assert tied.num_params() - tied.num_params(non_embedding=True) == V * 32


# ---- flavors and parameter budgets ---------------------------------------------------------------

def params_of(flavor, family="transformer", causal=True, vocab_size=16) -> int:
    with torch.device("meta"):
        return build_model(config_for(flavor, family, vocab_size=vocab_size, causal=causal)).num_params()


@pytest.mark.parametrize("flavor, low, high", [
    ("debug", 2e4, 6e4), ("tiny", 0.6e6, 1.5e6), ("small", 8e6, 13e6), ("base", 80e6, 90e6),
    ("large", 280e6, 330e6),
])
def test_flavor_parameter_counts(flavor, low, high):
    n = params_of(flavor)
    assert low <= n <= high, (flavor, n)
    if flavor == "debug":
        return  # too small for the LSTM's multiple-of-8 hidden size to match closely
    for family, causal in KINDS:  # baselines get a comparable budget (see genolm/model/config.py)
        assert 0.85 * n <= params_of(flavor, family, causal) <= 1.15 * n, (flavor, family, causal)


def test_base_flavor_is_12_by_768():
    cfg = config_for("base", vocab_size=16)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff) == (12, 768, 12, 2048)
    cfg = config_for("large", vocab_size=16)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads) == (24, 1024, 16)
    assert default_d_ff(32) == 128 and default_d_ff(100) == 320


# ---- config validation and round trip ------------------------------------------------------------

@pytest.mark.parametrize("kw, field", [
    (dict(d_model=30, n_heads=4), "d_model"),
    (dict(d_model=36, n_heads=4), "head size"),
    (dict(family="rnn"), "family"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(n_layers=2.0), "n_layers"),
    (dict(n_layers=True), "n_layers"),
    (dict(dropout=1.0), "dropout"),
    (dict(norm_eps=0), "norm_eps"),
    (dict(causal="yes"), "causal"),
    (dict(kernel_size=4), "kernel_size"),
    (dict(dilations=[]), "dilations"),
    (dict(dilations=[1, 0]), "dilations"),
    (dict(lstm_hidden=0), "lstm_hidden"),
    (dict(d_ff=-1), "d_ff"),
])
def test_config_validation_names_the_field(kw, field):
    with pytest.raises(GenolmError, match=field):
        ModelConfig(**{"vocab_size": V, **kw})


def test_lstm_and_cnn_need_no_head_divisibility():
    assert ModelConfig(vocab_size=V, family="cnn", d_model=30, n_heads=4).d_model == 30


def test_unknown_flavor_lists_the_flavors():
    with pytest.raises(GenolmError, match="debug | tiny | small | base | large") as e:
        config_for("huge", vocab_size=V)
    assert "'huge'" in str(e.value)
    with pytest.raises(GenolmError, match="d_modle"):
        config_for("debug", vocab_size=V, d_modle=64)


@pytest.mark.parametrize("family", FAMILIES)
def test_config_round_trips_through_json(family):
    cfg = config_for("debug", family, vocab_size=V, causal=False, dilations=(1, 3), tie_embeddings=False)
    back = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.dilations == (1, 3)
    a, b = build_model(cfg), build_model(back)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def test_from_dict_rejects_unknown_and_missing_fields():
    d = config_for("debug", vocab_size=V).to_dict()
    with pytest.raises(GenolmError, match="unknown model config field.*'n_embd'") as e:
        ModelConfig.from_dict({**d, "n_embd": 64}, source="ckpt/config.json")
    assert "ckpt/config.json" in str(e.value)
    del d["vocab_size"]
    with pytest.raises(GenolmError, match="vocab_size"):
        ModelConfig.from_dict(d)
    with pytest.raises(GenolmError, match="mapping"):
        ModelConfig.from_dict([1, 2])
    with pytest.raises(GenolmError, match="build_model needs a ModelConfig"):
        build_model({"vocab_size": V})


# ---- sequence classifier -------------------------------------------------------------------------

def test_mean_pooling_ignores_pads():
    hidden = torch.randn(2, 5, 4)
    x = torch.tensor([[9, 9, 9, 0, 0], [9, 9, 9, 9, 9]])
    pooled = pool_hidden(hidden, x, "mean")
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    torch.testing.assert_close(pool_hidden(hidden, x, "cls"), hidden[:, 0])
    torch.testing.assert_close(pool_hidden(hidden, x, "last"), torch.stack([hidden[0, 2], hidden[1, 4]]))
    with pytest.raises(GenolmError, match="pooling"):
        pool_hidden(hidden, x, "max")


@pytest.mark.parametrize("family", FAMILIES)
def test_classifier_over_a_causal_backbone_ignores_trailing_pads(family):
    torch.manual_seed(0)
    clf = SequenceClassifier(make(family).backbone, 3).eval()
    x = torch.randint(7, V, (2, 10))
    padded = torch.cat([x, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert clf(x).shape == (2, 3)
        torch.testing.assert_close(clf(padded), clf(x))


def test_classifier_errors():
    model = make()
    with pytest.raises(GenolmError, match="model.backbone"):
        SequenceClassifier(torch.nn.Linear(2, 2), 2)
    with pytest.raises(GenolmError, match="classes"):
        SequenceClassifier(model.backbone, 0)
    with pytest.raises(GenolmError, match="pooling"):
        SequenceClassifier(model.backbone, 2, pool="max")
