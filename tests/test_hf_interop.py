"""Parity with Hugging Face: genolm's causal transformer exported as ``LlamaForCausalLM`` gives the
same logits; local ESM / BERT models loaded as backbones give the same hidden states as the HF
models themselves.  Small random models only: nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402

from genolm.errors import GenolmError  # noqa: E402
from genolm.model import SequenceClassifier, build_model, config_for, export_llama, load_hf_backbone  # noqa: E402
from genolm.tokenize import get_tokenizer, load_tokenizer  # noqa: E402

V = 96


pytestmark = pytest.mark.usefixtures("one_thread")


def random_model(tie=True, **kw):
    """A debug model with every weight random, norm gains included (init sets those to 1)."""
    torch.manual_seed(0)
    model = build_model(config_for("debug", vocab_size=V, tie_embeddings=tie, **kw)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(1.0, 0.2)
    return model


# ---- export to LlamaForCausalLM ------------------------------------------------------------------

@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_llama_export_gives_the_same_logits(tmp_path, tie):
    model = random_model(tie, rope_theta=500.0)  # a non-default theta must travel too
    out = export_llama(model, None, tmp_path / "llama")
    hf = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32,
                                                       attn_implementation="eager").eval()
    x = torch.randint(0, V, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x), atol=1e-5, rtol=1e-5)
    assert (hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()) == tie


def test_llama_config_fields(tmp_path):
    model = random_model()
    cfg = model.config
    export_llama(model, None, tmp_path / "llama")
    c = json.loads((tmp_path / "llama" / "config.json").read_text())
    assert c["architectures"] == ["LlamaForCausalLM"] and c["model_type"] == "llama"
    assert (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]) == (cfg.d_model, cfg.d_ff, cfg.n_layers)
    assert c["num_attention_heads"] == c["num_key_value_heads"] == cfg.n_heads
    assert (c["vocab_size"], c["max_position_embeddings"]) == (V, cfg.max_len)
    assert (c["rms_norm_eps"], c["rope_theta"]) == (cfg.norm_eps, cfg.rope_theta)
    assert c["tie_word_embeddings"] is True and c["attention_bias"] is False and c["mlp_bias"] is False
    assert (c["pad_token_id"], c["bos_token_id"], c["eos_token_id"]) == (0, 2, 3)
    assert c["genolm"]["model_config"] == cfg.to_dict()
    names = set(load_file(tmp_path / "llama" / "model.safetensors"))
    assert "model.layers.1.self_attn.q_proj.weight" in names and "lm_head.weight" not in names  # tied


def test_llama_export_copies_the_tokenizer(tmp_path):
    tok = get_tokenizer("char")
    tok.save(tmp_path / "tok.json")
    export_llama(random_model(), tmp_path / "tok.json", tmp_path / "llama")
    assert load_tokenizer(tmp_path / "llama" / "genolm_tokenizer.json").vocab_sha256 == tok.vocab_sha256
    get_tokenizer("kmer:3").save(tmp_path / "big.json")  # 71 + 64 3-mers + tails > 96
    with pytest.raises(GenolmError, match="more ids than the model"):
        export_llama(random_model(), tmp_path / "big.json", tmp_path / "llama2")
    assert not (tmp_path / "llama2").exists()


def test_llama_export_replaces_only_its_own_output(tmp_path):
    out = tmp_path / "llama"
    export_llama(random_model(), None, out)
    export_llama(random_model(tie=False), None, out)  # an earlier export: replaced
    assert "lm_head.weight" in load_file(out / "model.safetensors")
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(GenolmError, match="exists"):
        export_llama(random_model(), None, user)
    assert (user / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("family, causal", [("transformer", False), ("lstm", True), ("cnn", True)])
def test_only_causal_transformers_export(tmp_path, family, causal):
    torch.manual_seed(0)
    model = build_model(config_for("debug", family, vocab_size=V, causal=causal))
    with pytest.raises(GenolmError, match="only causal transformers"):
        export_llama(model, None, tmp_path / "out")
    with pytest.raises(GenolmError, match="LanguageModel"):
        export_llama(model.backbone, None, tmp_path / "out")


# ---- loading HF encoders as backbones ------------------------------------------------------------

def esm_dir(tmp_path, **kw):
    cfg = transformers.EsmConfig(vocab_size=33, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, pad_token_id=1, mask_token_id=2,
                                 max_position_embeddings=64, **kw)
    torch.manual_seed(0)
    mlm = transformers.EsmForMaskedLM(cfg).eval()
    mlm.save_pretrained(tmp_path / "esm")
    return tmp_path / "esm", mlm.esm


def bert_dir(tmp_path):
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, pad_token_id=0, max_position_embeddings=64)
    torch.manual_seed(0)
    mlm = transformers.BertForMaskedLM(cfg).eval()
    mlm.save_pretrained(tmp_path / "bert")
    return tmp_path / "bert", mlm.bert


@pytest.mark.parametrize("make", [
    pytest.param(lambda p: esm_dir(p), id="esm-absolute"),
    pytest.param(lambda p: esm_dir(p, position_embedding_type="rotary"), id="esm-rotary"),  # NT v2
    pytest.param(bert_dir, id="bert"),
])
def test_hf_backbone_gives_the_hf_hidden_states(tmp_path, make):
    path, reference = make(tmp_path)
    backbone = load_hf_backbone(path)
    pad = reference.config.pad_token_id
    assert backbone.hidden_size == 32 and backbone.pad_id == pad
    x = torch.randint(4, 30, (2, 12), generator=torch.Generator().manual_seed(1))
    x[1, 8:] = pad  # a padded row: the default attention mask leaves the pads out
    with torch.no_grad():
        expected = reference(input_ids=x, attention_mask=(x != pad).long()).last_hidden_state
        torch.testing.assert_close(backbone(x), expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(backbone(x, doc_ids=torch.zeros_like(x)), expected, atol=1e-6, rtol=1e-6)
        ones = torch.ones_like(x)
        torch.testing.assert_close(backbone(x, attention_mask=ones),
                                   reference(input_ids=x, attention_mask=ones).last_hidden_state)
        # Thin heads work over it, pooling with the model's own pad id.
        assert SequenceClassifier(backbone, 2)(x).shape == (2, 2)
        with pytest.raises(GenolmError, match="one document per row"):
            backbone(x, doc_ids=(torch.arange(12) >= 6).long().expand(2, 12))


def test_not_a_model_directory(tmp_path):
    with pytest.raises(GenolmError, match="genolm never downloads"):
        load_hf_backbone(tmp_path / "InstaDeepAI" / "nucleotide-transformer")
    with pytest.raises(GenolmError, match="no config.json"):
        load_hf_backbone(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(GenolmError, match="not readable JSON"):
        load_hf_backbone(tmp_path)


def test_remote_code_is_refused(tmp_path):
    path, _ = esm_dir(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (path / "config.json").write_text(json.dumps(config))
    (path / "modeling_custom.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(GenolmError, match="remote code"):
        load_hf_backbone(path)


def test_unsupported_architecture_and_missing_weights(tmp_path):
    export_llama(random_model(), None, tmp_path / "llama")
    with pytest.raises(GenolmError, match="unsupported Hugging Face architecture.*'llama'"):
        load_hf_backbone(tmp_path / "llama")
    path, _ = esm_dir(tmp_path)
    weights = load_file(path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".layer.1." not in k}, path / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(GenolmError, match="lacks encoder weights.*layer.1"):
        load_hf_backbone(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(GenolmError, match="no weights"):
        load_hf_backbone(path)
