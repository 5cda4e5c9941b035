#!/usr/bin/env bash
# The GPU runs behind BENCHMARKS.md's issue-8 rows (genolm generate + genolm viability), one GPU,
# PART names one or more of the steps below, run in that order in one call (WORK keeps the runs
# between steps; a machine released between calls loses it, so train and judge go in one call):
#   PART=train bash benchmarks/run_gpu_issue8.sh OUTDIR
#       the bacteria split (first 90% of every record trains, last 10% is held out), genolm prepare
#       (char, windows of 2048), then at once on the one GPU: a causal `small` transformer and a
#       causal `small` LSTM, MINUTES each, and on the CPU the best Markov model (order picked on
#       the training side) with its 200 samples of 5 kb.
#   PART=judge bash benchmarks/run_gpu_issue8.sh OUTDIR
#       genolm generate 200 x 5 kb from each model (temperature 1, seed 1), then genolm viability
#       of the three sets against held-out 5 kb windows, with the training data for novelty.
#   PART=speed bash benchmarks/run_gpu_issue8.sh OUTDIR
#       generation speed, `base` flavor, 512 new tokens, batch 1 and 64: genolm's engines vs HF
#       generate (default and static cache compiled), and a same-seed check of the engines.
# Smoke test on a CPU: GENOMES=dir-of-one-genome MINUTES=0.3 FLAVOR=debug BATCH=4 COMPILE= NUM=20 DEVICE=cpu
# GENOMES: a folder of genome FASTA (default .gpu-data/bacteria, a copy of ../shared/data/genomes/bacteria).
# On the device: carry .whl and .gpu-data, then
#   python3 -m pip install -q --no-index --no-deps .whl/*.whl; export PYTHONPATH=$PWD
#   PART=train bash benchmarks/run_gpu_issue8.sh $OUT
set -u
OUT=${1:?OUTDIR}
mkdir -p "$OUT"
WORK=${WORK:-.gpu-work/issue8}; GENOMES=${GENOMES:-.gpu-data/bacteria}; MINUTES=${MINUTES:-5}
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/log.txt"; }
for part in ${PART:?PART=train, judge and/or speed}; do
case $part in
train)
  rm -rf "$WORK"; mkdir -p "$WORK"
  stamp "split"
  python3 benchmarks/bench_generate_quality.py split --genomes "$GENOMES" --out "$WORK" | tee -a "$OUT/log.txt"
  stamp "prepare"
  python3 -m genolm prepare "$WORK/train.fasta" --tokenizer char --window 2048 --split region \
      --val-fraction 0.02 --out "$WORK/corpus" --no-progress 2>&1 | tail -3 | tee -a "$OUT/log.txt"
  stamp "pretrain transformer and LSTM ($MINUTES min each, together), Markov on the CPU"
  P="python3 -m genolm pretrain --data $WORK/corpus --model ${FLAVOR:-small} --objective clm --minutes $MINUTES --steps 100000 --batch-size ${BATCH:-64} --lr 2e-3"
  (OMP_NUM_THREADS=2 $P --out "$WORK/tf" --family transformer ${COMPILE---compile} > "$WORK/pretrain_tf.log" 2>&1) &
  (OMP_NUM_THREADS=2 $P --out "$WORK/lstm" --family lstm > "$WORK/pretrain_lstm.log" 2>&1) &
  (OMP_NUM_THREADS=8 python3 benchmarks/bench_generate_quality.py markov --work "$WORK" --orders 6 8 10 12 --num ${NUM:-200} \
      > "$WORK/markov.log" 2>&1; cp "$WORK/markov.json" "$OUT/") &
  wait
  for f in pretrain_tf pretrain_lstm markov; do echo "== $f" >> "$OUT/log.txt"; grep -v "it/s\]" "$WORK/$f.log" >> "$OUT/log.txt"; done
  stamp "done"
  ;;
judge)
  for m in tf lstm; do
    stamp "generate from $m"
    python3 -m genolm generate --model "$WORK/$m" --num ${NUM:-200} --length 5000 --batch-size 200 --seed 1 --device ${DEVICE:-cuda} \
        --temperature 1 --prefix "$m" --out "$WORK/$m.fasta" --no-progress 2>&1 | tee -a "$OUT/log.txt"
  done
  stamp "generate from lstm on the CPU"  # the LSTM's GPU samples did not follow the model in a first run
  OMP_NUM_THREADS=16 python3 -m genolm generate --model "$WORK/lstm" --num ${NUM:-200} --length 5000 --batch-size 200 \
      --seed 1 --device cpu --temperature 1 --prefix lstm_cpu --out "$WORK/lstm_cpu.fasta" --no-progress 2>&1 | tee -a "$OUT/log.txt"
  for m in tf lstm; do
    sets="$WORK/$m.fasta"; [ $m = lstm ] && sets="$sets $WORK/lstm_cpu.fasta"
    python3 benchmarks/bench_generate_quality.py selfcheck --model "$WORK/$m" --sets $sets --reference "$WORK/heldout.fasta" \
        --device ${DEVICE:-cuda} 2>&1 | tee -a "$OUT/log.txt"
  done
  cp "$WORK/tf.fasta" "$WORK/genolm_transformer.fasta"; cp "$WORK/lstm_cpu.fasta" "$WORK/genolm_lstm.fasta"
  stamp "viability"
  python3 -m genolm viability "$WORK/genolm_transformer.fasta" "$WORK/genolm_lstm.fasta" "$WORK/markov.fasta" \
      --reference "$WORK/heldout.fasta" --train "$WORK/train.fasta" --window 5000 --max-reference 1000 \
      --model "$WORK/tf" --device ${DEVICE:-cuda} --out "$WORK/viability" --no-progress 2>&1 | tee "$OUT/viability.txt"
  cp "$WORK/viability/summary.json" "$WORK/viability/summary.tsv" "$WORK/viability/"*.png "$OUT/" 2>/dev/null
  stamp "done"
  ;;
speed)
  stamp "speed"
  python3 benchmarks/bench_generate.py --flavor base --device cuda --new 512 --batches 1 64 \
      --engines eager graph compile --hf-compile --check --out "$OUT" 2>&1 | grep -v "Loading weights" | tee "$OUT/speed.txt"
  stamp "done"
  ;;
esac
done
