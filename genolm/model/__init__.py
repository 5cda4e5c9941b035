"""Models: configs with named flavors, three backbone families, thin heads, Hugging Face interop.

=================  ===============================================================================
module             what it holds
=================  ===============================================================================
``config``         :class:`ModelConfig`, the flavors (``debug`` ``tiny`` ``small`` ``base``
                   ``large``) and :func:`config_for`
``transformer``    the Llama-style transformer backbone (RMSNorm, rotary, SDPA attention, SwiGLU)
``lstm``           residual LSTM baseline backbone
``cnn``            dilated depthwise-CNN baseline backbone
``lm``             :class:`LanguageModel`, :func:`build_model`, :class:`SequenceClassifier`
``hf``             export to ``LlamaForCausalLM``; load Hugging Face ESM / BERT models as backbones
``markov``         :class:`MarkovModel`: interpolated order-k Markov baseline (numpy only)
=================  ===============================================================================

Every backbone maps ``input_ids`` (B, T) and optional ``doc_ids`` (B, T) (document of each token in
packed rows) to hidden states (B, T, d); tokens never see other documents.  Models hold
single-device math only; the trainer wraps them for compile and distribution, and owns the losses.

>>> import torch
>>> cfg = config_for("debug", "cnn", vocab_size=80, causal=False)
>>> model = build_model(cfg)
>>> model(torch.randint(0, 80, (2, 16))).shape
torch.Size([2, 16, 80])
"""

from __future__ import annotations

from genolm.model.cnn import DilatedCNNBackbone
from genolm.model.config import FAMILIES, FLAVORS, ModelConfig, config_for
from genolm.model.hf import HFBackbone, export_llama, load_hf_backbone
from genolm.model.lm import LanguageModel, SequenceClassifier, build_model, pool_hidden
from genolm.model.lstm import LSTMBackbone
from genolm.model.markov import MarkovModel
from genolm.model.transformer import Transformer

__all__ = [
    "ModelConfig", "config_for", "FLAVORS", "FAMILIES", "build_model", "LanguageModel",
    "SequenceClassifier", "pool_hidden", "Transformer", "LSTMBackbone", "DilatedCNNBackbone",
    "export_llama", "load_hf_backbone", "HFBackbone", "MarkovModel",
]
