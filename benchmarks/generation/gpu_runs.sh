#!/usr/bin/env bash
# The GPU runs behind docs/benchmarks/generation.md (genolm generate + genolm viability), one GPU.
# PART names one or more of the steps below, run in that order in one call (WORK keeps the runs
# between steps; a machine released between calls loses it, so train and judge go in one call):
#   PART=train bash benchmarks/generation/gpu_runs.sh OUTDIR
#       the bacteria split (first 90% of every record trains, last 10% is held out), genolm prepare
#       (char, windows of 2048), then at once on the one GPU: a causal `small` transformer and a
#       causal `small` LSTM, MINUTES each, and on the CPU the best Markov model (order picked on
#       the training side) with its 200 samples of 5 kb.
#   PART=judge bash benchmarks/generation/gpu_runs.sh OUTDIR
#       genolm generate 200 x 5 kb from each model (temperature 1, seed 1), then genolm viability
#       of the three sets against held-out 5 kb windows, with the training data for novelty.
#   PART=speed bash benchmarks/generation/gpu_runs.sh OUTDIR
#       generation speed, `base` flavor, 512 new tokens, batch 1 and 64: genolm's engines vs HF
#       generate (default and static cache compiled), and a same-seed check of the engines.
#   SMOKE=1 bash benchmarks/generation/gpu_runs.sh     # all three parts on a CPU, in about a minute
# OUTDIR defaults to $BENCH_OUT/generation_gpu ($BENCH_OUT: benchmarks/out). WORK (default
# $TMPDIR/genolm-generation) keeps the split, the models and the samples between parts.
# GENOMES: a folder of genome FASTA (default ../shared/data/genomes/bacteria). MINUTES (default 5):
# training time of each model. NUM (default 200) samples of LENGTH (default 5000) bases each.
# SMOKE=1: PART="train judge speed" on the CPU: 9 made-up 20 kb genomes (benchmarks/smoke_inputs.py)
#   unless GENOMES is given, debug models trained for about a second, Markov orders 2 and 3, 10
#   samples of 1 kb, and the speed part at 16 new tokens.
# On a device machine with no network: carry the wheels and the genomes, then
#   python3 -m pip install -q --no-index --no-deps WHEELS/*.whl; export PYTHONPATH=$PWD
#   PART=train GENOMES=genomes bash benchmarks/generation/gpu_runs.sh $OUT
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/generation_gpu}
mkdir -p "$OUT"
if [ "${SMOKE:-0}" = 1 ]; then
  WORK=${WORK:-$OUT/work}; PART=${PART:-train judge speed}; MINUTES=${MINUTES:-0.02}; FLAVOR=${FLAVOR:-debug}
  BATCH=${BATCH:-4}; COMPILE=${COMPILE-}; NUM=${NUM:-10}; LENGTH=${LENGTH:-1000}; DEVICE=${DEVICE:-cpu}
  ORDERS=${ORDERS:-"2 3"}; SPEED="--flavor debug --device cpu --new 16 --batches 1 4 --engines eager --check"
  [ -n "${GENOMES:-}" ] || GENOMES=$(python3 benchmarks/smoke_inputs.py "$OUT/inputs" genomes)/genomes/bacteria
else
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-generation}; MINUTES=${MINUTES:-5}; FLAVOR=${FLAVOR:-small}
  BATCH=${BATCH:-64}; COMPILE=${COMPILE---compile}; NUM=${NUM:-200}; LENGTH=${LENGTH:-5000}; DEVICE=${DEVICE:-cuda}
  ORDERS=${ORDERS:-"6 8 10 12"}; GENOMES=${GENOMES:-../shared/data/genomes/bacteria}
  SPEED="--flavor base --device cuda --new 512 --batches 1 64 --engines eager graph compile --hf-compile --check"
fi
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/log.txt"; }
for part in ${PART:?PART=train, judge and/or speed}; do
case $part in
train)
  rm -rf "$WORK"; mkdir -p "$WORK"
  stamp "split"
  python3 benchmarks/generation/quality.py split --genomes "$GENOMES" --out "$WORK" | tee -a "$OUT/log.txt"
  stamp "prepare"
  python3 -m genolm prepare "$WORK/train.fasta" --tokenizer char --window 2048 --split region \
      --val-fraction 0.02 --out "$WORK/corpus" --no-progress 2>&1 | tail -3 | tee -a "$OUT/log.txt"
  stamp "pretrain transformer and LSTM ($MINUTES min each, together), Markov on the CPU"
  P="python3 -m genolm pretrain --data $WORK/corpus --model $FLAVOR --objective clm --minutes $MINUTES --steps 100000 --batch-size $BATCH --lr 2e-3"
  (OMP_NUM_THREADS=2 $P --out "$WORK/tf" --family transformer $COMPILE > "$WORK/pretrain_tf.log" 2>&1) &
  (OMP_NUM_THREADS=2 $P --out "$WORK/lstm" --family lstm > "$WORK/pretrain_lstm.log" 2>&1) &
  (OMP_NUM_THREADS=$(nproc) python3 benchmarks/generation/quality.py markov --work "$WORK" --orders $ORDERS --num $NUM \
      --length $LENGTH > "$WORK/markov.log" 2>&1; cp "$WORK/markov.json" "$OUT/") &
  wait
  for f in pretrain_tf pretrain_lstm markov; do echo "== $f" >> "$OUT/log.txt"; grep -v "it/s\]" "$WORK/$f.log" >> "$OUT/log.txt"; done
  stamp "done"
  ;;
judge)
  for m in tf lstm; do
    stamp "generate from $m"
    python3 -m genolm generate --model "$WORK/$m" --num $NUM --length $LENGTH --batch-size 200 --seed 1 --device $DEVICE \
        --temperature 1 --prefix "$m" --out "$WORK/$m.fasta" --no-progress 2>&1 | tee -a "$OUT/log.txt"
  done
  stamp "generate from lstm on the CPU"  # the LSTM's GPU samples did not follow the model in a first run
  OMP_NUM_THREADS=$(nproc) python3 -m genolm generate --model "$WORK/lstm" --num $NUM --length $LENGTH --batch-size 200 \
      --seed 1 --device cpu --temperature 1 --prefix lstm_cpu --out "$WORK/lstm_cpu.fasta" --no-progress 2>&1 | tee -a "$OUT/log.txt"
  for m in tf lstm; do
    sets="$WORK/$m.fasta"; [ $m = lstm ] && sets="$sets $WORK/lstm_cpu.fasta"
    python3 benchmarks/generation/quality.py selfcheck --model "$WORK/$m" --sets $sets --reference "$WORK/heldout.fasta" \
        --device $DEVICE 2>&1 | tee -a "$OUT/log.txt"
  done
  cp "$WORK/tf.fasta" "$WORK/genolm_transformer.fasta"; cp "$WORK/lstm_cpu.fasta" "$WORK/genolm_lstm.fasta"
  stamp "viability"
  python3 -m genolm viability "$WORK/genolm_transformer.fasta" "$WORK/genolm_lstm.fasta" "$WORK/markov.fasta" \
      --reference "$WORK/heldout.fasta" --train "$WORK/train.fasta" --window $LENGTH --max-reference 1000 \
      --model "$WORK/tf" --device $DEVICE --out "$WORK/viability" --no-progress 2>&1 | tee "$OUT/viability.txt"
  cp "$WORK/viability/summary.json" "$WORK/viability/summary.tsv" "$WORK/viability/"*.png "$OUT/" 2>/dev/null
  stamp "done"
  ;;
speed)
  stamp "speed"
  python3 benchmarks/generation/speed.py $SPEED --out "$OUT" 2>&1 | grep -v "Loading weights" | tee "$OUT/speed.txt"
  stamp "done"
  ;;
esac
done
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in markov.json summary.json bench_generate_cpu.json; do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
exit 0
