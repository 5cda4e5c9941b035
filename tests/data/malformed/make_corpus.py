"""Regenerate the malformed-file corpus: `python tests/data/malformed/make_corpus.py`.

Each file is broken in exactly one way; tests/test_malformed.py pins the error each must give.
"""
import bz2
import gzip
import lzma
import random
from pathlib import Path

import zstandard

here = Path(__file__).parent
rng = random.Random(7)
good = b">seq1 first\nACGTACGTAC\nGGTTAACC\n>seq2\nTTTTGGGG\n"
long_fa = b">big\n" + b"\n".join(bytes(rng.choice(b"ACGT") for _ in range(60)) for _ in range(3000)) + b"\n"
files = {
    "error_empty.fa": b"",
    "error_blank_lines.fa": b"\n\n  \n",
    "error_no_header.fa": b"ACGTACGT\nACGT\n",
    "error_text_before.fa": b"# exported by tool v1\n>seq1\nACGT\n",
    "error_binary_junk.fa": bytes(rng.randrange(256) for _ in range(2048)),
    "error_bad_char.fa": b">seq1\nACGTACGT\n>seq2\nACGTAC\nGTJACG\n",
    "error_rna_as_dna.fa": b">seq1\nACGUACGU\n",
    "error_protein_as_dna.fa": b">p1\nMKVLAAGIVE\n",
    "error_duplicate_ids.fa": b">a\nACGT\n>b\nACGT\n>a desc\nGGGG\n",
    "error_empty_record.fa": b">a\nACGT\n>b\n>c\nACGT\n",
    "error_header_without_id.fa": b">a\nACGT\n>\nACGT\n",
    "error_text_in_sequence.fa": b">a\nACGT\nthis line is not DNA\n>b\nAC\n",
    "error_qual_length.fq": b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n",
    "error_missing_plus.fq": b"@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n",
    "error_bad_char.fq": b"@r1\nACGT\n+\nIIII\n@r2\nACXT\n+\nIIII\n",
    "error_duplicate_ids.fq": b"@r1\nACGT\n+\nIIII\n@r1\nACGT\n+\nIIII\n",
}
for name, data in files.items():
    (here / name).write_bytes(data)
# Truncated compressed streams (cut in the middle): every format must notice.
(here / "error_truncated.fa.gz").write_bytes(gzip.compress(long_fa)[:2000])
(here / "error_truncated.fq.gz").write_bytes(
    gzip.compress(b"".join(b"@r%d\nACGTACGTAC\n+\nIIIIIIIIII\n" % i for i in range(2000)))[:1500])
(here / "error_truncated.fa.bz2").write_bytes(bz2.compress(long_fa)[:2000])
(here / "error_truncated.fa.xz").write_bytes(lzma.compress(long_fa)[:2000])
(here / "error_truncated.fa.zst").write_bytes(zstandard.ZstdCompressor().compress(long_fa)[:2000])
(here / "error_empty.fa.gz").write_bytes(gzip.compress(b""))
# A gzip file named .fa whose content is a valid FASTA: magic bytes decide, so this one is fine.
(here / "ok_gzip_without_suffix.fa").write_bytes(gzip.compress(good))
