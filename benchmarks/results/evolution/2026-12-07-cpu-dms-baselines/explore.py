"""Site-independent scores of the Perth/2009 HA1 development sites (no model): the frequency
table (all sequences; unique proteins), PSSMs with BLOSUM62 pseudocounts, the frequency table with
BLOSUM62 added at several weights, and other substitution matrices.  Spearman over all pairs,
then the mean within sites.

  python benchmarks/results/evolution/2026-12-07-cpu-dms-baselines/explore.py   (from the repository root)
"""
import sys; sys.path.insert(0, ".")
import numpy as np
from genolm.io.seqio import read_records
from genolm.bio.codon import translate
from genolm.evolution.dms import read_truth, family_counts, frequency_scores, blosum62, agreement
from genolm.evolution.baselines import dated_records
AMINO = "ACDEFGHIKLMNPQRSTVWY"
ref = next(iter(read_records("data/dms_perth2009_h3/Perth09_HA_reference.fa", case="upper"))).seq
prot = translate(ref, 1)
t = read_truth("data/dms_perth2009_h3/ha1_dev_sites_prefs.csv", 16, wildtype_of=lambda c: prot[c-1] if 1 <= c <= len(prot) else None)
d = dated_records("data/h3n2_ha1_1968-2010.fasta.gz")
fam = [translate(s, 1, unknown="n") for s, dt in zip(d.seqs, d.dates) if dt.year <= 2009]
counts = family_counts(prot, fam)
wt = [prot[c-1] for c in t.codon]
preds = {"freq pc1": frequency_scores(counts, t.codon, wt, t.mutant), "blosum": blosum62(wt, t.mutant)}
# unique-sequence reweighting: each distinct protein counts once
uc = family_counts(prot, list(set(fam)))
preds["freq unique"] = frequency_scores(uc, t.codon, wt, t.mutant)
# PSSM with BLOSUM62 target-frequency pseudocounts
from scoring_matrices import ScoringMatrix
B = ScoringMatrix.from_name("BLOSUM62")
bg = np.array([0.074,0.025,0.054,0.054,0.047,0.074,0.026,0.068,0.058,0.099,0.025,0.045,0.039,0.034,0.052,0.057,0.051,0.073,0.013,0.032])
# q(a|b) ~ bg[a] * 2^(B[a,b]/2) normalised
Q = np.array([[bg[i] * 2 ** (B[a, b] / 2) for i, a in enumerate(AMINO)] for b in AMINO]); Q /= Q.sum(1, keepdims=True)
A = {a: i for i, a in enumerate(AMINO)}
def pssm(cn, beta):
    n = cn.sum(1, keepdims=True)
    f = cn / np.maximum(n, 1)
    g = f @ Q  # pseudocount distribution: sum_b f(b) q(a|b)
    return (n * f + beta * g) / (n + beta)
for name, cn in (("all", counts), ("unique", uc)):
    for beta in (1, 5, 20, 100):
        P = pssm(cn.astype(float), beta)
        k = np.arange(len(t.codon))
        preds[f"pssm {name} b{beta}"] = np.log(P[t.codon - 1, [A[m] for m in t.mutant]] / P[t.codon - 1, [A[w] for w in wt]])
r = agreement(t, preds)
for n, a in r.items(): print(f"{n:22s} {a['all_pairs']:.3f} {a['mean_per_site']:.3f}")
print(len(fam), "family", len(set(fam)), "unique", len(set(t.site)), "sites")
print("--- combos")
f, b = preds["freq pc1"], preds["blosum"]
z = lambda x: (x - x.mean()) / x.std()
combos = {}
for w in (0.01, 0.1, 0.2, 0.3, 0.5, 1.0):
    combos[f"z(freq)+{w}z(blosum)"] = z(f) + w * z(b)
# the raw scale: blosum in half-bits -> nats ~ 0.35 per unit
for w in (0.05, 0.1, 0.2, 0.35):
    combos[f"freq+{w}*blosum"] = f + w * b
r = agreement(t, combos)
for n, a in r.items(): print(f"{n:22s} {a['all_pairs']:.3f} {a['mean_per_site']:.3f}")
print("--- properties")
# Kyte-Doolittle hydropathy; Grantham distance via scoring_matrices if present
kd = dict(zip("ARNDCQEGHILKMFPSTWYV", [1.8,-4.5,-3.5,-3.5,2.5,-3.5,-3.5,-0.4,-3.2,4.5,3.8,-3.9,1.9,2.8,-1.6,-0.8,-0.7,-0.9,-1.3,4.2]))
hyd = -np.abs(np.array([kd[m] - kd[w] for w, m in zip(wt, t.mutant)]))
P = {"-|dKD|": hyd}
for name in ("BLOSUM45", "BLOSUM80", "PAM250", "PAM120"):
    try:
        M = ScoringMatrix.from_name(name); P[name] = np.array([M[w, m] for w, m in zip(wt, t.mutant)], float)
    except Exception as e: print(name, e)
P["blosum62+0.3*hyd"] = b + 0.3 * hyd
# frequency of the mutant anywhere in the family (site-independent background)
r = agreement(t, P)
for n, a in r.items(): print(f"{n:22s} {a['all_pairs']:.3f} {a['mean_per_site']:.3f}")
