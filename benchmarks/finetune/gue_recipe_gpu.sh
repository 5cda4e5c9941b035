#!/usr/bin/env bash
# The fine-tuning recipe check of docs/benchmarks/finetune.md, and the embedding-speed rerun.
#   GPU_A=0 GPU_B=1 bash benchmarks/finetune/gue_recipe_gpu.sh OUTDIR MODEL GUE GENOME
#   SMOKE=1 bash benchmarks/finetune/gue_recipe_gpu.sh  # the same on a CPU: a debug model, made-up tasks
# GPU_B: genolm bench gue on TASKS with MODEL (a genolm run), three recipes x SEEDS, every
#   recipe x seed its own process, all at once: A = the table's (lr 1e-4, 8 epochs, patience 2),
#   B = A + --min-steps 1000, C = B at lr 3e-4. Then each recipe's table (`bench --collect`).
# GPU_A: benchmarks/embed/speed.py, base flavor: 1 kb sequences (genolm vs HF EsmModel, eager and
#   compiled) and GENOME cut into 50-1000 bp pieces (length-sorted batches vs padded batches in file order).
# OUTDIR defaults to $BENCH_OUT/finetune_recipe ($BENCH_OUT: benchmarks/out); WORK (default
# $TMPDIR/genolm-finetune-recipe) keeps the fine-tunings; END (default 400) is the time budget in seconds.
# SMOKE=1: DEV=cpu, one seed, two tasks, --min-steps 2, and MODEL, GUE and GENOME made by
# benchmarks/smoke_inputs.py when not given.
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/finetune_recipe}; MODEL=${2:-}; GUE=${3:-}; GENOME=${4:-}
if [ "${SMOKE:-0}" = 1 ]; then
  WORK=${WORK:-$OUT/work}; SEEDS=${SEEDS:-0}; TASKS=${TASKS:-"prom/prom_core_tata mouse/3"}; DEV=${DEV:-cpu}
  EXTRA=${EXTRA:-}; EMBED=${EMBED:---flavor debug --n 8 --length 300 --repeat 1}; FRAGMENTS=${FRAGMENTS:-100}; MIN_STEPS=2
  if [ -z "$MODEL" ]; then
    IN=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" genomes gue mlm)
    MODEL=$IN/mlm; GUE=$IN/gue; GENOME=$IN/genomes/bacteria/E.Coli__MG1655-K12.fasta.gz
  fi
else
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-finetune-recipe}; SEEDS=${SEEDS:-"0 1 2"}
  TASKS=${TASKS:-"tf/2 tf/4 prom/prom_core_tata mouse/3 mouse/2"}; DEV=${DEV:-cuda}; EXTRA=${EXTRA:---compile}
  EMBED=${EMBED:---flavor base --n 4096 --length 1000 --compile}; FRAGMENTS=${FRAGMENTS:-20000}; MIN_STEPS=1000
  : "${MODEL:?MODEL}" "${GUE:?GUE}" "${GENOME:?GENOME}"
fi
END=${END:-400}
mkdir -p "$OUT" "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1
T0=$(date +%s)
left() { echo $(( END - ($(date +%s) - T0) )); }
declare -A RECIPE=([A]="--lr 1e-4" [B]="--lr 1e-4 --min-steps $MIN_STEPS" [C]="--lr 3e-4 --min-steps $MIN_STEPS")
BENCH="python3 -m genolm bench gue --model $MODEL --data $GUE --epochs 8 --patience 2 --batch-size 64 --no-progress"
( export CUDA_VISIBLE_DEVICES=${GPU_A:-0}
  timeout $(left) python3 benchmarks/embed/speed.py --device $DEV $EMBED \
    --reads "$GENOME" --fragments 50-1000 --max-reads $FRAGMENTS --out "$OUT" > "$OUT/embed.txt" 2>&1 ) &
( export CUDA_VISIBLE_DEVICES=${GPU_B:-0}
  for r in A B C; do for seed in $SEEDS; do
    timeout $(left) $BENCH ${RECIPE[$r]} $EXTRA --device $DEV --seeds 1 --first-seed $seed --tasks $TASKS \
      --out "$WORK/$r" > /dev/null 2>> "$OUT/errors.txt" &
  done; done; wait ) &
wait
n=$(echo $SEEDS | wc -w)
for r in A B C; do
  CUDA_VISIBLE_DEVICES="" $BENCH ${RECIPE[$r]} --device cpu --seeds $n --collect --tasks $TASKS --out "$WORK/$r" \
    > "$OUT/recipe_$r.txt" 2>&1
done
python3 - "$WORK" "$OUT" <<'PY'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = [{"path": str(m.parent.relative_to(work)), **{k: json.loads(m.read_text()).get(k) for k in
         ("test_mcc", "val_mcc", "best_epoch", "epochs_run", "epochs_planned", "train_seconds", "lr")}}
        for m in sorted(work.glob("*/**/seed_*/metrics.json"))]
(out / "finetunes.json").write_text(json.dumps(rows, indent=1) + "\n")
print(len(rows), "fine-tunings finished")
PY
tail -n 9 "$OUT"/recipe_*.txt; grep -A12 "^base\|^debug" "$OUT/embed.txt"
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for r in A B C; do grep -q "^average" "$OUT/recipe_$r.txt" || { echo "SMOKE: no table in recipe_$r.txt" >&2; exit 1; }; done
  [ -s "$OUT/embed_$DEV.json" ] || { echo "SMOKE: no $OUT/embed_$DEV.json" >&2; exit 1; }
fi
exit 0
