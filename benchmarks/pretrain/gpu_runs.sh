#!/usr/bin/env bash
# The GPU runs behind BENCHMARKS.md's issue-3 tables, on a machine with two GPUs (an H200 pair here).
#   bash benchmarks/run_gpu_issue3.sh OUTDIR [BACTERIA_DIR]
# GPU 0: training speed (base flavor, seq 1024 and 4096, genolm vs HF Llama, eager and compiled,
#        with a kernel-time profile), then 150 bp reads packed into 4096-token rows vs padded.
# GPU 1: the honest-split bits-per-base runs, all at once (small models leave the GPU mostly idle):
#        LSTM at recipe A (batch 128 x 1024, the transformer and CNN of recipe A ran earlier),
#        transformer and CNN at recipe B (batch 32 x 1024), Markov k <= 12 on the CPU.
# Every model sees 1e8 tokens. Outputs land in OUTDIR as they finish; results.tgz holds them all.
set -u
OUT=${1:?OUTDIR}; DATA=${2:-../shared/data/genomes/bacteria}
mkdir -p "$OUT"
export OMP_NUM_THREADS=2
B="python3 benchmarks/bench_bacteria.py --data $DATA --model small --tokens 1e8 --device cuda --workers 4 --out $OUT"
(CUDA_VISIBLE_DEVICES=0 timeout 530 bash -c "python3 benchmarks/bench_pretrain.py --device cuda --flavor base --seq 1024 4096 --compile --profile --steps 10 --warmup 3 --out $OUT/speed > $OUT/speed.txt 2>&1; python3 benchmarks/bench_pretrain.py --device cuda --flavor base --only reads --reads 150 50-150 --batch 8 --compile --steps 3 --out $OUT/reads > $OUT/reads.txt 2>&1") &
for split in region species; do
  (CUDA_VISIBLE_DEVICES=1 timeout 530 $B --split $split --families lstm --markov 0 --batch 128 --tag _A_lstm --work /tmp/w_${split}_A_lstm > /dev/null 2>&1) &
  for fam in transformer cnn; do
    (CUDA_VISIBLE_DEVICES=1 timeout 530 $B --split $split --families $fam --markov 0 --batch 32 --tag _B_$fam --work /tmp/w_${split}_B_$fam > /dev/null 2>&1) &
  done
  (timeout 530 $B --split $split --families "" --markov 12 --tag _markov --work /tmp/w_${split}_markov > /dev/null 2>&1) &
done
wait
cd "$OUT" && tar czf results.tgz --remove-files bacteria_*.json bacteria_*.log speed reads 2>/dev/null; ls -la "$OUT"
