"""The viability score on its validation set with run 1's base + fine-tuned model, on the CPU: the
steps of benchmarks/generation/phage_design.py's part 4.  Arguments: isolates, copies per damage, run.
  python viability_cpu.py 16 1 RUN     (RUN: the model from run 1, 2026-12-07-h100-base-finetune-sweep)"""
import json, time, sys
import numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[4]))
from genolm.generation.funnel import read_genomes, Reference
from genolm.bio.circular import in_register
from genolm.generation.viability_score import components, Context, validation_set, ViabilityScore
from genolm.model.markov import MarkovModel
from genolm.train.checkpoint import load_model
from genolm.io.seqio import read_records
import torch
torch.set_num_threads(2)
M='data/microviridae/'
ref = Reference.load(M+'NC_001422_1.fna.gz', M+'NC_001422.1_pseudocircular.gff', M+'NC_001422.1_Gprotein.fasta.gz')
_, isolates = read_genomes(M+'rokyta2006_phix174like_genomes.fasta.gz')
lam = next(iter(read_records('data/lambda.fasta.gz', case='upper'))).seq
n = int(sys.argv[1]) if len(sys.argv) > 1 else len(isolates)
v = validation_set(isolates[:n], ref, np.random.default_rng(0), others=[lam], copies=int(sys.argv[2]) if len(sys.argv) > 2 else 2)
turned = [in_register(g, ref.genome)[0] for g in read_genomes(M+'phage_sft_genomes_phix174_variants.fna.gz')[1]]
lm, tok, _ = load_model(sys.argv[3] if len(sys.argv) > 3 else '/tmp/ft1', 'cpu')  # run 1's fine-tuned model
ctx = Context(ref, turned, MarkovModel(max_order=8).fit(turned), (lm, tok, 'cpu'))
t = time.perf_counter()
comp = components(v['seqs'], ctx)
print('components', time.perf_counter() - t, 's', flush=True)
score = ViabilityScore.fit(comp, np.array(v['viable']), v['kind'], np.array(v['group']), folds=4)
val = score.validation
json.dump({'validation': val, 'score': json.loads(score.to_json())}, open('/tmp/viab_cpu.json', 'w'), indent=1, default=float)
names = list(val['components'])
print(f"chosen {val['chosen']}; {val['n_viable']} isolates, {val['n_damaged']} damaged")
print(f"{'damage':18s} {'combined':>9s} " + " ".join(f"{k:>13s}" for k in names))
for k in val['combined']:
    print(f"{k:18s} {val['combined'][k]:9.3f} " + " ".join(f"{val['components'][c][k]:13.3f}" for c in names))
