#!/usr/bin/env bash
# The GPU run behind the forecast rows of docs/benchmarks/evolution.md: one call on one GPU.
#   bash benchmarks/evolution/gpu_runs.sh OUTDIR
#   SMOKE=1 bash benchmarks/evolution/gpu_runs.sh      # the same plan on a CPU in under a minute
# 1. genolm evolve for every target season 2001-2010 (each trained only on the years before it),
#    defaults fixed before any run (tiny model, 1500 steps, batch 32, recency half-life 1 year),
#    then the same with all years weighted equally (--half-life 0) as a sensitivity check.  Each
#    season is its own command (JOBS at a time on the one GPU), written atomically, so a season
#    cut off by the time limit is missing, not half-written.
# 2. benchmarks/evolution/backtest_summary.py: mean ± sd over the seasons, per-season table and plot,
#    for each.
# 3. genolm score's speed and exactness in fp32 on the GPU (HA1, the 2010 model) vs the naive path.
# OUTDIR (default $BENCH_OUT/evolution_gpu, $BENCH_OUT defaulting to benchmarks/out) gets summary.json +
# summary.tsv (half-life 1), summary_uniform.json (half-life 0), seasons.png, landscape_2003.png (the
# Fujian-like season), bench_score_cuda_fp32.json, log.txt.  WORK (default $TMPDIR/genolm-evolution)
# keeps the seasons' runs; LIMIT (default 470) is the time budget in seconds for the seasons, and
# SCORE_LIMIT (default 90) the one for step 3.
# SMOKE=1: the same plan on a CPU: a debug model, 2 steps, season 2010 at both half-lives, on 1,363
#   HA1 sequences cut to 150 nt (benchmarks/smoke_inputs.py).
# SEASONS="2008 2009 2010" HALF_LIVES=0: a part of the plan (e.g. what a first call left out).
# On a device machine with no network: carry the wheels, then
#   python3 -m pip install -q --no-index --no-deps WHEELS/*.whl; export PYTHONPATH=$PWD
#   bash benchmarks/evolution/gpu_runs.sh $OUT
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/evolution_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/log.txt"; }
DATA=data/h3n2_ha1_1968-2010.fasta.gz
if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu; SEASONS=${SEASONS:-2010}; STEPS=2; JOBS=2; LIMIT=${LIMIT:-300}; FLAVOR=debug; NAIVE=10
  WORK=${WORK:-$OUT/work}; rm -rf "$WORK"; mkdir -p "$WORK"
  DATA=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" ha1)/ha1.fasta
else
  DEV=cuda; SEASONS=${SEASONS:-"2001 2002 2003 2004 2005 2006 2007 2008 2009 2010"}; STEPS=${STEPS:-1500}
  JOBS=${JOBS:-5}; LIMIT=${LIMIT:-470}; FLAVOR=${FLAVOR:-tiny}; NAIVE=200
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-evolution}; rm -rf "$WORK"; mkdir -p "$WORK"
fi
stamp "evolve: seasons $SEASONS, $JOBS at a time, $LIMIT s at most"
plan() { for hl in ${HALF_LIVES:-1 0}; do for y in $SEASONS; do echo "$hl $y"; done; done; }
# JOBS processes share the cores: more threads than cores makes torch's OpenMP threads spin
# against each other (a tenfold slowdown on 2 cores)
THREADS=$(( $(nproc) / JOBS )); export OMP_NUM_THREADS=$(( THREADS > 0 ? THREADS : 1 ))
DEADLINE=$(( $(date +%s) + LIMIT ))  # every season must end by then (timeout kills it, not just xargs)
plan | xargs -P "$JOBS" -L 1 bash -c '
  hl=$0; y=$1; left=$(( '"$DEADLINE"' - $(date +%s) ))
  [ "$left" -gt 20 ] || { echo "SKIPPED half-life $hl season $y: no time left"; exit 0; }
  timeout "$left" python3 -m genolm evolve --data '"$DATA"' --until $((y - 1)) --predict "$y" --half-life "$hl" \
    --steps '"$STEPS"' --flavor '"$FLAVOR"' --device '"$DEV"' --no-progress --out '"$WORK"'/hl$hl/season_$y > '"$WORK"'/hl${hl}_$y.log 2>&1 \
    && echo "done half-life $hl season $y: $(grep -h "strain-pick score" '"$WORK"'/hl${hl}_$y.log)" \
    || echo "FAILED half-life $hl season $y: $(tail -2 '"$WORK"'/hl${hl}_$y.log)"
' 2>&1 | tee -a "$OUT/log.txt"
stamp "summaries"
python3 benchmarks/evolution/backtest_summary.py "$WORK"/hl1/season_* --out "$WORK/sum1" 2>&1 | tee -a "$OUT/log.txt"
python3 benchmarks/evolution/backtest_summary.py "$WORK"/hl0/season_* --out "$WORK/sum0" 2>&1 | tee -a "$OUT/log.txt"
cp "$WORK/sum1/summary.json" "$WORK/sum1/summary.tsv" "$WORK/sum1/seasons.png" "$OUT/" 2>/dev/null
cp "$WORK/sum0/summary.json" "$OUT/summary_uniform.json" 2>/dev/null
for y in 2003 $SEASONS; do
  [ -f "$WORK/hl1/season_$y/landscape.png" ] && { cp "$WORK/hl1/season_$y/landscape.png" "$OUT/landscape_$y.png"; break; }
done
last=$(ls -d "$WORK"/hl1/season_* 2>/dev/null | tail -1)
if [ -n "$last" ]; then
  stamp "score fp32 on $last"
  python3 - "$DATA" "$WORK/ha1.fa" <<'PY'
import gzip, sys
from genolm.io.seqio import read_records
r = next(iter(read_records(sys.argv[1], case="upper")))
open(sys.argv[2], "w").write(f">{r.id.split('|')[0]}\n{r.seq}\n")
PY
  timeout ${SCORE_LIMIT:-90} python3 benchmarks/evolution/score_speed.py "$WORK/ha1.fa" --model "$last" --device "$DEV" --fp32 --suffix 0 \
    --naive-n $NAIVE --out "$WORK/score" 2>&1 | tee -a "$OUT/log.txt"
  cp "$WORK"/score/*.json "$OUT/" 2>/dev/null
fi
stamp "end"
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in summary.json summary.tsv summary_uniform.json bench_score_cpu_fp32.json; do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
exit 0
