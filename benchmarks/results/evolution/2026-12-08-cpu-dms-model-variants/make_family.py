"""Write the family FASTA exactly as benchmarks/evolution/dms_perth.py does (H3N2 HA1 dated up to 2009)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
from genolm.evolution.baselines import dated_records  # noqa: E402
from genolm.io.seqio import write_fasta  # noqa: E402

until, out = int(sys.argv[1]), Path(sys.argv[2])
d = dated_records(ROOT / "data" / "h3n2_ha1_1968-2010.fasta.gz")
keep = [(f"{i}|x|{dt.year}", s) for i, (s, dt) in enumerate(zip(d.seqs, d.dates)) if dt.year <= until]
out.parent.mkdir(parents=True, exist_ok=True)
write_fasta(keep, out)
print(f"{len(keep)} sequences up to {until} (of {len(d.seqs)}; latest kept year {max(dt.year for dt in d.dates if dt.year <= until)})")
