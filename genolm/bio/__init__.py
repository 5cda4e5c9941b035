"""The central dogma on strings: reverse complement, transcription, translation, ORFs, k-mers.

Vectorised throughout (``bytes.translate`` and numpy lookup tables, no per-base Python loops),
IUPAC-aware, and strict: a character that is not a nucleotide code raises
:class:`~genolm.errors.GenolmError` unless ``unknown="n"`` asks to read it as N.  This layer
imports only ``genolm.errors`` and ``genolm.io``.

>>> from genolm.bio import reverse_complement, translate
>>> translate(reverse_complement("TTACTTCAT"), table=11)
'MK*'
"""

from genolm.bio.codon import GeneticCode, genetic_code, six_frame, translate
from genolm.bio.codon_tables import TABLE_IDS, TABLES
from genolm.bio.kmers import kmer_codes, kmer_counts, kmer_counts_dict, kmer_index, kmer_string
from genolm.bio.orfs import ORF, call_genes, find_orfs, gene_finder
from genolm.bio.seq import back_transcribe, complement, gc_content, nucleotide_masks, reverse_complement, transcribe

__all__ = [
    "GeneticCode", "genetic_code", "six_frame", "translate", "TABLE_IDS", "TABLES",
    "kmer_codes", "kmer_counts", "kmer_counts_dict", "kmer_index", "kmer_string",
    "ORF", "call_genes", "find_orfs", "gene_finder",
    "back_transcribe", "complement", "gc_content", "nucleotide_masks", "reverse_complement",
    "transcribe",
]
