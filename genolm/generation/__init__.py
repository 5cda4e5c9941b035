"""New sequences, and a verdict on whether they look alive.

``generate`` (``genolm generate``: prompts and conditions, FASTA written batch by batch; the
sampler is :mod:`genolm.infer.sampling`) and ``viability`` (``genolm viability``: composition,
genes, likelihood, memorisation and a discriminator, each against real genomes' own spread)."""
