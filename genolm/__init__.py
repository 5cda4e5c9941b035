"""genolm: language models for the languages of biology (DNA, mRNA, protein, metagenomes)."""

__version__ = "0.1.0"
