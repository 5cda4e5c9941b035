#!/usr/bin/env bash
# The GPU run behind BENCHMARKS.md's issue-4 tables: on two GPUs, everything within one 10-minute
# call; on one GPU, as two calls (PARTS=pretrained, then PARTS=baselines).
#   bash benchmarks/run_gpu_issue4.sh OUTDIR DATA
#   PARTS=pretrained GPU_A=0 bash benchmarks/run_gpu_issue4.sh OUTDIR DATA    # one GPU, first call
# DATA holds genomes/{bacteria,eukaryote,drosophila_upstream,phage}, ocean/BioMarKs50k.fasta.gz (18S
# amplicons), gue/ (the 13 GUE tasks) and gue_train.fasta.gz (benchmarks/gue_corpus.py:
# the GUE *training* sequences, unlabelled; no dev or test sequence).
#
# GPU_A (default 0): genolm prepare (all of it, one corpus) -> genolm pretrain, masked LM, `small` (~10.6M),
#        --minutes $PRETRAIN_MIN -> genolm bench gue on it: seeds 0-2, each seed as two processes
#        (tf/* and the rest), all at once (a small model leaves the GPU mostly idle).
# GPU_B (default 1): embedding speed (base flavor, 1 kb, genolm vs HF EsmModel, eager and compiled; CAMISIM
#        reads length-sorted vs padded), then the from-scratch baselines through the same bench:
#        CNN `small` seeds 0-2 and a transformer `small` seed 0 (the pretrained model's own
#        architecture without pretraining).
# Finally each bench is re-run over all its seeds, which only gathers the table (finished
# task/seed folders are reused). Outputs land in OUTDIR as they finish.
# SMOKE=1 runs the same plan on a CPU in a few minutes (debug models, two tasks).
set -u
OUT=${1:?OUTDIR}; DATA=${2:?DATA}
mkdir -p "$OUT"
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
G="python3 -m genolm"
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/timeline.txt"; }

if [ "${SMOKE:-0}" = 1 ]; then
  DEV0=cpu; DEV1=cpu; FLAVOR=debug; PRETRAIN_MIN=0.3; EPOCHS=1; PATIENCE=1; SEEDS="0 1"
  TASKS_A="prom/prom_core_tata"; TASKS_B="mouse/3"; EMBED="--device cpu --flavor debug --n 64 --length 300 --max-reads 300"
  WORK=${WORK:-$OUT/work}; STAGE=120; FT=240
else
  DEV0=cuda; DEV1=cuda; FLAVOR=small; PRETRAIN_MIN=${PRETRAIN_MIN:-4}; EPOCHS=8; PATIENCE=2; SEEDS="0 1 2"
  TASKS_A="tf/0 tf/1 tf/2 tf/3 tf/4"
  TASKS_B="prom/prom_300_tata prom/prom_core_all prom/prom_core_notata prom/prom_core_tata mouse/0 mouse/2 mouse/3 mouse/4"
  EMBED="--device cuda --flavor base --n 4096 --length 1000 --max-reads 50000 --compile"
  WORK=${WORK:-/tmp/issue4}; STAGE=200; FT=560
fi
mkdir -p "$WORK"
PARTS=${PARTS:-"pretrained baselines"}; GPU_A=${GPU_A:-0}; GPU_B=${GPU_B:-1}
BENCH="$G bench gue --data $DATA/gue --epochs $EPOCHS --patience $PATIENCE --batch-size 64 --no-progress"

# ---- GPU_B: embedding speed, then the baselines from scratch -------------------------------------
[[ " $PARTS " == *" baselines "* ]] && (
  export CUDA_VISIBLE_DEVICES=$GPU_B
  stamp "gpu_b: embed speed"
  timeout $STAGE python3 benchmarks/bench_embed.py $EMBED --reads data/camisim_reads.fasta.gz \
    --out "$OUT" > "$OUT/embed.txt" 2>&1
  stamp "gpu_b: baselines from scratch"
  for seed in $SEEDS; do
    for tasks in "$TASKS_A" "$TASKS_B"; do
      timeout $(( FT - ($(date +%s) - T0) )) $BENCH --model cnn --flavor $FLAVOR --device $DEV1 \
        --seeds 1 --first-seed $seed --tasks $tasks --out "$WORK/gue_cnn" > /dev/null 2>> "$OUT/errors.txt" &
    done
  done
  for tasks in "$TASKS_A" "$TASKS_B"; do
    timeout $(( FT - ($(date +%s) - T0) )) $BENCH --model transformer --flavor $FLAVOR --device $DEV1 \
      --seeds 1 --tasks $tasks --out "$WORK/gue_scratch_tf" > /dev/null 2>> "$OUT/errors.txt" &
  done
  wait
  stamp "gpu_b: done"
) &

# ---- GPU_A: prepare, pretrain, fine-tune ----------------------------------------------------------
[[ " $PARTS " == *" pretrained "* ]] && (
  export CUDA_VISIBLE_DEVICES=$GPU_A
  stamp "gpu_a: prepare"
  $G prepare "$DATA"/genomes/*/*.f*a.gz "$DATA"/ocean/*.fasta.gz "$DATA/gue_train.fasta.gz" \
    --out "$WORK/corpus" --window 512 --val-fraction 0.01 --unknown n --workers 16 --no-progress \
    > "$OUT/prepare.txt" 2>&1 || { stamp "prepare failed"; exit 1; }
  stamp "gpu_a: pretrain"
  $G pretrain --data "$WORK/corpus" --out "$WORK/run" --model $FLAVOR --objective mlm --device $DEV0 \
    --minutes $PRETRAIN_MIN --steps 1000000 --batch-size 256 --lr 1e-3 --compile --eval-every 400 \
    --eval-batches 40 --save-every 1000000 --log-every 50 > "$OUT/pretrain.txt" 2>&1 \
    || { stamp "pretrain failed"; exit 1; }
  cp "$WORK/run/metrics.jsonl" "$OUT/pretrain_metrics.jsonl"
  stamp "gpu_a: fine-tune the pretrained model"
  for seed in $SEEDS; do
    for tasks in "$TASKS_A" "$TASKS_B"; do
      timeout $(( FT - ($(date +%s) - T0) )) $BENCH --model "$WORK/run" --lr 1e-4 --device $DEV0 \
        --seeds 1 --first-seed $seed --tasks $tasks --out "$WORK/gue_pretrained" > /dev/null 2>> "$OUT/errors.txt" &
    done
  done
  wait
  stamp "gpu_a: done"
) &
wait

# ---- gather: every bench over all its seeds (reuses the finished folders; trains nothing new) ------
# A gather that met a missing task/seed would train it on the CPU: the timeout stops that, and the
# table keeps the tasks before it (finetunes.json below lists every finished fine-tuning anyway).
n=$(echo $SEEDS | wc -w)
for spec in "gue_pretrained|$WORK/run|--lr 1e-4|$n" "gue_cnn|cnn|--flavor $FLAVOR|$n" \
            "gue_scratch_tf|transformer|--flavor $FLAVOR|1"; do
  [ -d "$WORK/${spec%%|*}" ] || continue
  IFS='|' read -r name model extra seeds <<< "$spec"
  CUDA_VISIBLE_DEVICES="" timeout 60 $BENCH --model "$model" $extra --device cpu --seeds $seeds \
    --tasks $TASKS_A $TASKS_B --out "$WORK/$name" > "$OUT/$name.txt" 2>&1
  cp "$WORK/$name/results.tsv" "$OUT/$name.tsv" 2>/dev/null
done
python3 - "$WORK" "$OUT" <<'EOF'
# Per-task, per-seed test MCC of every finished fine-tuning (whatever the gather could not finish).
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for m in sorted(work.glob("gue_*/**/seed_*/metrics.json")):
    d = json.loads(m.read_text())
    rel = m.parent.relative_to(work)
    rows.append({"bench": rel.parts[0], "task": "/".join(rel.parts[1:-1]), "seed": rel.parts[-1],
                 **{k: d.get(k) for k in ("test_mcc", "val_mcc", "best_epoch", "epochs_run", "train_seconds",
                                          "lr", "total_params")}})
(out / "finetunes.json").write_text(json.dumps(rows, indent=1) + "\n")
print(len(rows), "fine-tunings finished")
EOF
stamp "all done"
ls -la "$OUT"
