"""Metagenomes: unmix reads or contigs into organisms and name them, with the answers known.

``simulate`` (mock communities with a truth table), ``reads`` (inputs and truth tables shared by
the two below), ``binning`` (``genolm bin``: embeddings or k-mer composition, clustered, beside
the composition baseline), ``classify`` (``genolm classify``: nearest reference pieces in
embedding space beside exact k-mer lookup) and ``metrics`` (ARI, AMI, completeness and
contamination in bases)."""
