#!/usr/bin/env bash
# The GPU runs behind the 2026-11-30 training-speed rows (rotary in the projection's layout) and the GPU
# bits-per-base table of docs/benchmarks/pretrain.md, on a machine with two GPUs (an H200 pair there; one GPU works too, slower).
#   bash benchmarks/pretrain/gpu_runs.sh [OUTDIR] [BACTERIA_DIR]
#   SMOKE=1 bash benchmarks/pretrain/gpu_runs.sh       # the same plan on a CPU in about a minute
# GPU_A (default 0): training speed (base flavor, seq 1024 and 4096, genolm vs HF Llama, eager and
#        compiled, with a kernel-time profile), then 150 bp reads packed into 4096-token rows vs padded.
# GPU_B (default 1, or 0 on a one-GPU machine): the honest-split bits-per-base runs, all at once
#        (small models leave the GPU mostly idle): LSTM at recipe A (batch 128 x 1024; the
#        transformer and CNN of recipe A ran earlier), transformer and CNN at recipe B (batch
#        32 x 1024), Markov k <= 12 on the CPU.
# Every model sees 1e8 tokens. Outputs land in OUTDIR (default $BENCH_OUT/pretrain_gpu, $BENCH_OUT
# defaulting to benchmarks/out) as they finish.  PACK=1 then moves them into one results.tgz (for a
# machine that hands back only a few files).
# LIMIT (default 530): seconds each run may take (a 10-minute device call). WORK (default
# $TMPDIR/genolm-pretrain): the corpora and runs. SPLITS (default "region species").
# SMOKE=1: the same commands on the CPU: debug models, 20,480 tokens each, Markov k <= 3, the region
# split only, random genomes (benchmarks/smoke_inputs.py) unless BACTERIA_DIR is given.
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/pretrain_gpu}; DATA=${2:-}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
LIMIT=${LIMIT:-530}; WORK=${WORK:-${TMPDIR:-/tmp}/genolm-pretrain}
GPU_A=${GPU_A:-0}; GPU_B=${GPU_B:-$(( $(nvidia-smi -L 2>/dev/null | wc -l) > 1 ? 1 : 0 ))}
if [ "${SMOKE:-0}" = 1 ]; then
  WORK=$OUT/work; SPLITS=${SPLITS:-region}; MARKOV=3; A_BATCH=8; B_BATCH=4
  [ -n "$DATA" ] || DATA=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" genomes)/genomes/bacteria
  SPEED="--device cpu --flavor debug --seq 64 --steps 1 --warmup 1"
  READS="--device cpu --flavor debug --only reads --reads 150 30-60 --reads-row 512 --n-reads 2000 --batch 2 --steps 1"
  B="python3 benchmarks/pretrain/bacteria_bits.py --data $DATA --model debug --tokens 20480 --window 128 --lr 0.01 --device cpu --workers 1 --out $OUT"
else
  SPLITS=${SPLITS:-"region species"}; MARKOV=12; A_BATCH=128; B_BATCH=32
  DATA=${DATA:-../shared/data/genomes/bacteria}
  SPEED="--device cuda --flavor base --seq 1024 4096 --compile --profile --steps 10 --warmup 3"
  READS="--device cuda --flavor base --only reads --reads 150 50-150 --batch 8 --compile --steps 3"
  B="python3 benchmarks/pretrain/bacteria_bits.py --data $DATA --model small --tokens 1e8 --device cuda --workers 4 --out $OUT"
fi
mkdir -p "$WORK"
(CUDA_VISIBLE_DEVICES=$GPU_A timeout $LIMIT bash -c "python3 benchmarks/pretrain/throughput.py $SPEED --out $OUT/speed > $OUT/speed.txt 2>&1; python3 benchmarks/pretrain/throughput.py $READS --out $OUT/reads > $OUT/reads.txt 2>&1") &
for split in $SPLITS; do
  (CUDA_VISIBLE_DEVICES=$GPU_B timeout $LIMIT $B --split $split --families lstm --markov 0 --batch $A_BATCH --tag _A_lstm --work "$WORK/${split}_A_lstm" > /dev/null 2>&1) &
  for fam in transformer cnn; do
    (CUDA_VISIBLE_DEVICES=$GPU_B timeout $LIMIT $B --split $split --families $fam --markov 0 --batch $B_BATCH --tag _B_$fam --work "$WORK/${split}_B_$fam" > /dev/null 2>&1) &
  done
  (timeout $LIMIT $B --split $split --families "" --markov $MARKOV --tag _markov --work "$WORK/${split}_markov" > /dev/null 2>&1) &
done
wait
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in speed/pretrain_cpu.json reads/pretrain_cpu.json $(for s in $SPLITS; do
      echo bacteria_${s}_A_lstm.json bacteria_${s}_B_transformer.json bacteria_${s}_B_cnn.json bacteria_${s}_markov.json; done); do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
if [ "${PACK:-0}" = 1 ]; then (cd "$OUT" && tar czf results.tgz --remove-files bacteria_*.json bacteria_*.log speed reads 2>/dev/null); fi
ls -la "$OUT"
