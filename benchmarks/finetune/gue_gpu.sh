#!/usr/bin/env bash
# The GPU runs behind the GUE tables of docs/benchmarks/finetune.md. Each part fits one 10-minute
# call on one GPU; with two GPUs, give each part its own (GPU_A, GPU_B) and run them together.
#   PARTS=pretrained bash benchmarks/finetune/gue_gpu.sh OUTDIR DATA
#   PARTS=baselines  bash benchmarks/finetune/gue_gpu.sh OUTDIR DATA
#   PARTS=speed      bash benchmarks/finetune/gue_gpu.sh OUTDIR DATA
#   PARTS="pretrained baselines" GPU_A=0 GPU_B=1 bash benchmarks/finetune/gue_gpu.sh OUTDIR DATA
#   SMOKE=1 bash benchmarks/finetune/gue_gpu.sh        # every part on a CPU, made-up data, in about a minute
# DATA holds genomes/{bacteria,eukaryote,drosophila_upstream,phage}, ocean/BioMarKs50k.fasta.gz (18S
# amplicons), gue/ (the 13 GUE tasks) and gue_train.fasta.gz (benchmarks/finetune/gue_corpus.py: the
# GUE *training* sequences, unlabelled; no dev or test sequence).
#
# pretrained (GPU_A): genolm prepare (all of it, one corpus) -> genolm pretrain, masked LM, `small`
#   (~10.7M), --minutes $PRETRAIN_MIN -> with $STAGE2_MIN > 0, a second stage on the GUE training
#   sequences alone (pretrain --init: DNABERT-2's "further pretraining") -> genolm bench gue on the
#   last model (lr 3e-4, --min-steps 1000: docs/benchmarks/finetune.md "Fine-tuning recipe"): seeds
#   0-2, each seed as three processes (task groups), all at once (a small model leaves the GPU
#   mostly idle).
# baselines (GPU_C, default GPU_B): the same bench from scratch: CNN `tiny` and `small`, seeds 0-2, and a
#   transformer `small` seed 0 (the pretrained model's own architecture without pretraining; SCRATCH_TF=0
#   leaves it out). CNN_FLAVORS picks the CNNs.
# speed (GPU_B): embedding speed (base flavor, 1 kb, genolm vs HF EsmModel, eager and compiled;
#   a genome cut into 50-1000 bp pieces, length-sorted vs padded) and training speed (base flavor
#   at 4096: batch 16 vs HF Llama, eager and compiled; genolm at batch 8 compiled with autotuning).
# STAGE1=RUN: skip the general corpus and stage 1; stage 2 continues from RUN (a genolm run directory).
# gue_train.fasta.gz, when DATA lacks it, is made here from DATA/gue (benchmarks/finetune/gue_corpus.py).
# FT_GPUS="0 1": the pretrained model's fine-tunings, seed i on FT_GPUS[i mod n] (default GPU_A); with
#   the speed part in the same call, a GPU that also runs speed starts its fine-tunings after it.
# SPEED=embed: the speed part measures embedding only (SPEED=all: also training).
# Every bench is then collected over its seeds (`bench --collect`: trains nothing).
# Outputs land in OUTDIR (default $BENCH_OUT/finetune_gpu, $BENCH_OUT defaulting to benchmarks/out) as
# they finish; WORK (default $TMPDIR/genolm-finetune) keeps the corpora, models and fine-tunings, and
# END (default 570) is this call's time budget in seconds: every command stops by then.
# SMOKE=1: the same plan on a CPU: debug models, a few seconds of pretraining, one seed, two tasks in
# one group, data from benchmarks/smoke_inputs.py unless DATA is given.
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/finetune_gpu}; DATA=${2:-}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1
G="python3 -m genolm"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/timeline.txt"; }
left() { echo $(( END - ($(date +%s) - T0) )); }  # seconds until this call's deadline

if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu; FLAVOR=debug; PRETRAIN_MIN=${PRETRAIN_MIN:-0.02}; STAGE2_MIN=${STAGE2_MIN:-0.02}; EPOCHS=1; PATIENCE=1
  SEEDS="0"; TASK_GROUPS=("prom/prom_core_tata mouse/3"); COMPILE=""; CNN_FLAVORS=${CNN_FLAVORS:-debug}; BATCH=8
  MIN_STEPS=2; AUTOTUNE=""
  EMBED="--device cpu --flavor debug --n 8 --length 300 --max-reads 100 --repeat 1"
  TRAIN_SPEED="--device cpu --flavor debug --seq 64 --steps 1 --warmup 1"; WORK=${WORK:-$OUT/work}; END=${END:-900}
  PARTS=${PARTS:-"pretrained baselines speed"}
  [ -n "$DATA" ] || DATA=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" genomes gue)
else
  DEV=cuda; FLAVOR=small; PRETRAIN_MIN=${PRETRAIN_MIN:-3}; STAGE2_MIN=${STAGE2_MIN:-1.5}; EPOCHS=8; PATIENCE=2
  SEEDS="0 1 2"; TASK_GROUPS=("tf/0 tf/1" "tf/2 tf/3" "tf/4 mouse/0 mouse/2" "prom/prom_core_all"
                        "prom/prom_core_notata prom/prom_300_tata" "prom/prom_core_tata mouse/3 mouse/4"); COMPILE="--compile"; CNN_FLAVORS=${CNN_FLAVORS:-"tiny small"}
  EMBED="--device cuda --flavor base --n 4096 --length 1000 --max-reads 20000 --compile --profile"
  TRAIN_SPEED="--device cuda --flavor base --seq 4096 --steps 10 --warmup 3 --compile"; BATCH=256
  MIN_STEPS=1000; AUTOTUNE="--compile-modes max-autotune-no-cudagraphs"
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-finetune}; END=${END:-570}
  DATA=${DATA:?DATA: the folder of genomes/, ocean/ and gue/ (see the header)}
fi
mkdir -p "$WORK"; rm -f "$WORK/speed_done"
PARTS=${PARTS:-"pretrained baselines"}; GPU_A=${GPU_A:-0}; GPU_B=${GPU_B:-0}; GPU_C=${GPU_C:-$GPU_B}
SCRATCH_TF=${SCRATCH_TF:-1}  # 0: no transformer-from-scratch baseline
FT_GPUS=(${FT_GPUS:-$GPU_A}); SPEED=${SPEED:-all}; STAGE1=${STAGE1:-}
GUE_TRAIN=$DATA/gue_train.fasta.gz
if [ ! -s "$GUE_TRAIN" ]; then GUE_TRAIN=$WORK/gue_train.fasta.gz
  [ -s "$GUE_TRAIN" ] || python3 benchmarks/finetune/gue_corpus.py "$DATA/gue" "$GUE_TRAIN" > "$OUT/gue_corpus.txt" 2>&1; fi
BENCH="$G bench gue --data $DATA/gue --epochs $EPOCHS --patience $PATIENCE --batch-size 64 --no-progress"

bench_all() {  # NAME MODEL "FLAGS" SEEDS [GPU...]: every seed x task group as its own process, all at once;
  local name=$1 model=$2 flags=$3 seeds=$4 i=0 gpu  # seed i on the i-th GPU given (mod n), else as set
  shift 4; local gpus=("$@")
  for seed in $seeds; do
    gpu=${CUDA_VISIBLE_DEVICES:-}; [ ${#gpus[@]} -gt 0 ] && gpu=${gpus[$(( i % ${#gpus[@]} ))]}; i=$((i + 1))
    ( # a GPU that also runs the speed part starts once that is done (its timings stay clean)
      if [[ " $PARTS " == *" speed "* ]] && [ "$gpu" = "$GPU_B" ]; then
        while [ ! -e "$WORK/speed_done" ] && [ $(left) -gt 60 ]; do sleep 5; done; fi
      for tasks in "${TASK_GROUPS[@]}"; do
        CUDA_VISIBLE_DEVICES=$gpu timeout $(left) $BENCH --model "$model" $flags --device $DEV --seeds 1 --first-seed $seed \
          --tasks $tasks --out "$WORK/$name" > /dev/null 2>> "$OUT/errors.txt" &
      done
      wait ) &
  done
}

collect() {  # NAME MODEL "FLAGS" N_SEEDS
  CUDA_VISIBLE_DEVICES="" $BENCH --model "$2" $3 --device cpu --seeds $4 --collect --tasks ${TASK_GROUPS[*]} \
    --out "$WORK/$1" > "$OUT/$1.txt" 2>&1 && cp "$WORK/$1/results.tsv" "$OUT/$1.tsv"
}

if [[ " $PARTS " == *" speed "* ]]; then (
  export CUDA_VISIBLE_DEVICES=$GPU_B
  stamp "speed: embedding"
  GENOME=$(ls "$DATA"/genomes/bacteria/E.Coli__MG1655-K12.fasta.gz "$DATA"/E.Coli__MG1655-K12.fasta.gz 2>/dev/null | head -1)
  timeout $(( $(left) / 2 )) python3 benchmarks/embed/speed.py $EMBED --reads "$GENOME" \
    --fragments 50-1000 --out "$OUT" > "$OUT/embed.txt" 2>&1
  touch "$WORK/speed_done"
  if [ "$SPEED" = all ]; then
    stamp "speed: training"
    timeout $(left) python3 benchmarks/pretrain/throughput.py $TRAIN_SPEED --batch 16 --out "$OUT/speed16" > "$OUT/speed16.txt" 2>&1
    timeout $(left) python3 benchmarks/pretrain/throughput.py $TRAIN_SPEED --batch 8 --only genolm \
      $AUTOTUNE --out "$OUT/speed_autotune" > "$OUT/speed_autotune.txt" 2>&1
  fi
  stamp "speed: done"
) & fi

if [[ " $PARTS " == *" baselines "* ]]; then (
  export CUDA_VISIBLE_DEVICES=$GPU_C
  stamp "baselines from scratch"
  for fl in $CNN_FLAVORS; do bench_all gue_cnn_$fl cnn "--flavor $fl $COMPILE" "$SEEDS"; done
  [ "$SCRATCH_TF" = 1 ] && bench_all gue_scratch_tf transformer "--flavor $FLAVOR $COMPILE" 0
  wait
  stamp "baselines: done"
) & fi

pretrain_all() {  # prepare -> stage 1 -> stage 2; writes $WORK/pretrained_model
  PT="$G pretrain --objective mlm --device $DEV --steps 1000000 --batch-size $BATCH $COMPILE --eval-every 400 --eval-batches 40 --save-every 1000000 --log-every 50"
  if [ -n "$STAGE1" ]; then MODEL=$STAGE1; stamp "stage 1: $STAGE1"
  else
    stamp "prepare"
    $G prepare "$DATA"/genomes/*/*.f*a.gz "$DATA"/ocean/*.fasta.gz "$GUE_TRAIN" \
      --out "$WORK/corpus" --window 512 --val-fraction 0.01 --unknown n --no-progress \
      > "$OUT/prepare.txt" 2>&1 || { stamp "prepare failed"; return 1; }
    stamp "pretrain"
    $PT --data "$WORK/corpus" --out "$WORK/run" --model $FLAVOR --minutes $PRETRAIN_MIN --lr 1e-3 \
      > "$OUT/pretrain.txt" 2>&1 || { stamp "pretrain failed"; return 1; }
    cp "$WORK/run/metrics.jsonl" "$OUT/pretrain_metrics.jsonl"
    MODEL="$WORK/run"
  fi
  if [ "$STAGE2_MIN" != 0 ]; then
    stamp "pretrain, stage 2: GUE training sequences only"
    $G prepare "$GUE_TRAIN" --out "$WORK/corpus_gue" --window 512 --val-fraction 0.01 \
      --no-progress >> "$OUT/prepare.txt" 2>&1 || { stamp "prepare 2 failed"; return 1; }
    $PT --data "$WORK/corpus_gue" --out "$WORK/run2" --init "$MODEL" --minutes $STAGE2_MIN --lr 3e-4 \
      > "$OUT/pretrain2.txt" 2>&1 || { stamp "pretrain 2 failed"; return 1; }
    cp "$WORK/run2/metrics.jsonl" "$OUT/pretrain2_metrics.jsonl"
    MODEL="$WORK/run2"
  fi
  echo "$MODEL" > "$WORK/pretrained_model"
}

if [[ " $PARTS " == *" pretrained "* ]]; then (
  export CUDA_VISIBLE_DEVICES=$GPU_A
  # A later call on the same (still warm) machine reuses the model and the finished fine-tunings.
  if [ -s "$WORK/pretrained_model" ]; then MODEL=$(cat "$WORK/pretrained_model"); stamp "reusing $MODEL"
  else pretrain_all || exit 1; MODEL=$(cat "$WORK/pretrained_model"); fi
  stamp "fine-tune the pretrained model"
  bench_all gue_pretrained "$MODEL" "--lr 3e-4 --min-steps $MIN_STEPS $COMPILE" "$SEEDS" "${FT_GPUS[@]}"
  wait
  stamp "pretrained: done"
) & fi
wait

n=$(echo $SEEDS | wc -w)
[ -d "$WORK/gue_pretrained" ] && collect gue_pretrained "$(cat "$WORK/pretrained_model")" "--lr 3e-4 --min-steps $MIN_STEPS" $n
for fl in $CNN_FLAVORS; do [ -d "$WORK/gue_cnn_$fl" ] && collect gue_cnn_$fl cnn "--flavor $fl" $n; done
[ -d "$WORK/gue_scratch_tf" ] && collect gue_scratch_tf transformer "--flavor $FLAVOR" 1
python3 - "$WORK" "$OUT" <<'EOF'
# Per-task, per-seed test MCC of every finished fine-tuning.
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for m in sorted(work.glob("gue_*/**/seed_*/metrics.json")):
    d = json.loads(m.read_text())
    rows.append({"path": str(m.parent.relative_to(work)),
                 **{k: d.get(k) for k in ("test_mcc", "val_mcc", "best_epoch", "epochs_run", "train_seconds",
                                          "lr", "total_params")}})
(out / "finetunes.json").write_text(json.dumps(rows, indent=1) + "\n")
print(len(rows), "fine-tunings finished")
EOF
stamp "all done"
tail -n 17 "$OUT"/gue_*.txt 2>/dev/null
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in gue_pretrained.tsv gue_scratch_tf.tsv finetunes.json embed_cpu.json speed16/pretrain_cpu.json \
           speed_autotune/pretrain_cpu.json $(for fl in $CNN_FLAVORS; do echo gue_cnn_$fl.tsv; done); do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
