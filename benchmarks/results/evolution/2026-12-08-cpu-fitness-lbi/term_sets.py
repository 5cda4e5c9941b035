import sys, numpy as np, json
sys.path.insert(0, "/work/main")
from genolm.evolution import fitness
from genolm.evolution.baselines import baselines, before, dated_records, evaluate, proteins
data = dated_records("/work/main/data/h3n2_ha1_1968-2010.fasta.gz")
prot = proteins(data.seqs); years = data.years()
sets = {"growth": ["growth"], "lbi": ["lbi"], "growth,lbi": ["growth", "lbi"]}
out = {k: [] for k in sets}; cache = {}
for season in range(2001, 2011):
    base = baselines(data, prot, season - 1)
    kept = np.flatnonzero(years < season); past, _ = before(data, season)
    for k, use in sets.items():
        fit = fitness.forecast(past, prot[kept], season - 1, cache=cache, use=use)
        sc = fitness.predicted_frequency(prot[kept], fit["season"], fit["population"], base["mutations"])
        r = evaluate(prot, np.flatnonzero(years == season), base, {"fm": fit["pick"]}, {"fm": sc})
        out[k].append((r["strain_pick"]["fm"], r["mutation_pick"]["fm"]["precision@10"], float(fit["population"] @ r["to_target"]), fit["weights"]))
    print(season, {k: v[-1] for k, v in out.items()}, flush=True)
for k, v in out.items():
    a = np.array([x[:3] for x in v]); print(f"{k:12s} pick {a[:,0].mean():.3f} p@10 {a[:,1].mean():.3f} dist {a[:,2].mean():.3f}")
