#!/usr/bin/env bash
# Fine-tuning recipe check behind BENCHMARKS.md (issue 4), and the embedding-speed rerun.
#   GPU_A=0 GPU_B=1 bash benchmarks/run_gpu_issue4_recipe.sh OUTDIR MODEL GUE GENOME
# GPU_B: genolm bench gue on TASKS with MODEL (a genolm run), three recipes x SEEDS, every
#   recipe x seed its own process, all at once: A = the table's (lr 1e-4, 8 epochs, patience 2),
#   B = A + --min-steps 1000, C = B at lr 3e-4. Then each recipe's table (`bench --collect`).
# GPU_A: bench_embed.py, base flavor: 1 kb sequences (genolm vs HF EsmModel, eager and compiled) and
#   GENOME cut into 50-1000 bp pieces (length-sorted batches vs padded batches in file order).
set -u
OUT=${1:?OUTDIR}; MODEL=${2:?MODEL}; GUE=${3:?GUE}; GENOME=${4:?GENOME}
END=${END:-400}; SEEDS=${SEEDS:-"0 1 2"}; TASKS=${TASKS:-"tf/2 tf/4 prom/prom_core_tata mouse/3 mouse/2"}
DEV=${DEV:-cuda}; EXTRA=${EXTRA:---compile}; WORK=${WORK:-/tmp/recipe}
mkdir -p "$OUT" "$WORK"
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
T0=$(date +%s)
left() { echo $(( END - ($(date +%s) - T0) )); }
declare -A RECIPE=([A]="--lr 1e-4" [B]="--lr 1e-4 --min-steps 1000" [C]="--lr 3e-4 --min-steps 1000")
BENCH="python3 -m genolm bench gue --model $MODEL --data $GUE --epochs 8 --patience 2 --batch-size 64 --no-progress"
( export CUDA_VISIBLE_DEVICES=${GPU_A:-0}
  timeout $(left) python3 benchmarks/bench_embed.py --device $DEV ${EMBED:---flavor base --n 4096 --length 1000 --compile} \
    --reads "$GENOME" --fragments 50-1000 --max-reads ${FRAGMENTS:-20000} --out "$OUT" > "$OUT/embed.txt" 2>&1 ) &
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
