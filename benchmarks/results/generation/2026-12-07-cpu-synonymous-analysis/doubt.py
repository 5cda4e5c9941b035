"""Where a phiX174 model puts its doubt: read phiX174 (teacher-forced, after <sep>) and sum, per
codon position and per kind of change (synonymous, missense, stop), the probability the model
gives to every base but phiX174's; then the same under temperature / min-p.  Positions read by
exactly one gene of the GFF count; overlaps and non-coding positions are summed apart.

  python benchmarks/results/generation/2026-12-07-cpu-synonymous-analysis/doubt.py RUN   (from the repository root)
"""
import sys, numpy as np, torch
sys.path.insert(0, ".")
from genolm.train.checkpoint import load_model
from genolm.generation.funnel import Reference
from genolm.tokenize import SEP
run = sys.argv[1]
model, tok, _ = load_model(run, "cpu"); model.eval()
ref = Reference.load("data/microviridae/NC_001422_1.fna.gz", "data/microviridae/NC_001422.1_pseudocircular.gff", "data/microviridae/NC_001422.1_Gprotein.fasta.gz")
g = ref.genome
ids = [SEP] + list(tok.encode(g))
letters = [int(tok.encode(c)[0]) for c in "ACGT"]
with torch.no_grad():
    out = model(torch.tensor([ids]))
    logits = out if torch.is_tensor(out) else out[0]
    lp = torch.log_softmax(logits[0, :-1].float(), -1)[:, letters].numpy()
p = np.exp(lp); p /= p.sum(1, keepdims=True)
obs = np.array(["ACGT".index(c) for c in g])
pobs = p[np.arange(len(g)), obs]
alt = 1 - pobs
print("mean bits", -np.log2(pobs).mean(), "expected substitutions/genome at T=1:", alt.sum())
# codon position by gene (positions in exactly one forward gene)
cov = np.zeros(len(g), int); cpos = np.full(len(g), -1)
L = len(g)
cds = []
for line in open("data/microviridae/NC_001422.1_pseudocircular.gff"):
    f = line.rstrip("\n").split("\t")
    if len(f) > 8 and f[2] == "CDS":
        cds.append((int(f[3]), int(f[4])))
cnt = np.zeros(L, int); cp = np.full(L, -1)
for s, e in cds:
    for k, i in enumerate(range(s, e)):
        cnt[i % L] += 1; cp[i % L] = k % 3
one = cnt == 1
for c in range(3):
    m = one & (cp == c)
    print(f"codon pos {c+1}: n={m.sum()} mean alt prob {alt[m].mean():.4f}  sum {alt[m].sum():.2f}  frac>0.01 {(alt[m]>0.01).mean():.3f}")
m = cnt == 0; print(f"noncoding n={m.sum()} mean alt {alt[m].mean():.4f}")
m = cnt >= 2; print(f"overlap n={m.sum()} mean alt {alt[m].mean():.4f}")
from genolm.bio.codon import genetic_code

code = dict(zip((a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"), genetic_code(1).amino_acids))


def kinds(q):
    """Probability mass of synonymous, missense and stop changes at single-gene positions under q."""
    out = {"syn": 0.0, "nonsyn": 0.0, "stop": 0.0}
    for s, e in cds:
        for k in range(s, e - 2, 3):
            cod = "".join(g[(k + j) % L] for j in range(3))
            for j in range(3):
                i = (k + j) % L
                if cnt[i] != 1:
                    continue
                for b in range(4):
                    if b == obs[i]:
                        continue
                    aa = code[cod[:j] + "ACGT"[b] + cod[j + 1:]]
                    out["syn" if aa == code[cod] else "stop" if aa == "*" else "nonsyn"] += q[i, b]
    return out


m = kinds(p)
print(f"alt mass in single-gene positions: synonymous {m['syn']:.2f} nonsynonymous {m['nonsyn']:.2f} stop {m['stop']:.3f}")
# under temperature T, min-p applied first (on the model's own probabilities)
for T, mp in ((1, 0), (1.5, 0.05), (2, 0.05), (2, 0.1)):
    q = p.copy(); q[q < mp * q.max(1, keepdims=True)] = 0; q = q ** (1 / T); q /= q.sum(1, keepdims=True)
    a = 1 - q[np.arange(L), obs]
    m = kinds(q)
    print(f"T={T} min-p={mp}: expected subs {a.sum():.1f}; syn {m['syn']:.1f} nonsyn {m['nonsyn']:.1f} stop {m['stop']:.2f}")
