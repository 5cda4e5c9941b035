"""Labelled sequences: a head on a pretrained backbone (full, probe or LoRA) or a baseline from
scratch (``finetune``: ``genolm finetune``), and whole benchmark suites over seeds beside the
published figures (``gue``: ``genolm bench``)."""
