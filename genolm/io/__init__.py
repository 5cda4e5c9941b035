"""Sequence input/output: compressed FASTA/FASTQ readers and writers, alphabets, sample sheets."""
