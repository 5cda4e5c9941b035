"""Sequences and the conditions they were sampled in (Tara Oceans and any sample sheet).

``sheet`` (each sequence placed at its sample), ``fit`` (``genolm env fit`` / ``predict``:
sequence -> conditions, beside the mean, composition and geography baselines), ``evaluation``
(cross-validation that holds out whole sites, permutation tests) and ``conditioned``
(``genolm env condition`` / ``explain``: a language model conditioned on the sample's
conditions, tested on held-out sites against shuffled conditions)."""
