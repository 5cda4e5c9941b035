#!/usr/bin/env bash
# One GPU call that runs every genolm capability briefly on real data and leaves one `genolm report`
# page per capability (the pages docs/benchmarks/reports.md and the README link from docs/reports/).
#   bash benchmarks/reports/gpu_pages.sh OUTDIR DATA
#   SMOKE=1 bash benchmarks/reports/gpu_pages.sh       # the same plan on a CPU, made-up data, about a minute
# DATA holds: bacteria/*.fasta.gz (../shared/data/genomes/bacteria), species.tsv
# (genome <TAB> species), sp4/ (`genolm simulate E.Coli__MG1655-K12 H.Pylori__G27 S.Aureus__COL
# V.Cholerae__O395 --reads 20000 --single --seed 1`, truth.tsv gzipped: InSilicoSeq need not be on the
# GPU machine), tara/ (the files data/tara_sheet.py reads, from ../shared/data/ocean/tara_rna_virus)
# and gue/ (tf/0, mouse/0 and prom/prom_300_tata of ../shared/data/benchmarks/gue).
# CAMISIM's reads and the H3N2 HA1 sequences come from the repo's data/.
#
# Three lanes share the one GPU:
#   A. genolm prepare (the 16 genomes, windows of 512) -> pretrain, masked `small`, MINUTES; then at
#      once: bin CAMISIM (embedding, TNF baseline in the same run), classify sp4 (16 strains, species
#      taxa, k-mer baseline in the same run), bench gue (3 tasks), env fit (Tara: temperature and salinity, with the model
#      and the 4-mer baseline, 99 permutations).
#   B. genolm env condition (temperature + layer, `tiny`, 4000 steps, station fold 0 of 5).
#   C. genolm evolve (train on H3N2 up to 2009, forecast 2010, `tiny`, 1500 steps), then genolm score
#      of the first HA1 sequence under that model, amino-acid level.
# Then the pages, with `--plotly-js plotly.min.js` (docs/reports/ holds that file once):
#   pretrain.html, bench.html, metagenome.html (bin + classify), env.html (fit + condition),
#   evolve.html (forecast + substitution landscape); results.tgz (the outputs' small JSON/TSV files,
#   which otherwise stay in WORK) and log.txt.  Every command's own output is in log.txt.
# OUTDIR defaults to $BENCH_OUT/reports_gpu ($BENCH_OUT: benchmarks/out); WORK (default
#   $TMPDIR/genolm-reports) keeps every command's output.
# LIMIT (default 510): seconds from the start by which every command must end (timeout kills it);
#   the pages are written after it (PAGE_LIMIT, default 120 s, each).
# SMOKE=1: the same plan on a CPU: debug models, a few steps, 400 reads, HA1 cut to 150 bases
#   (every third sequence from 2006 on), 9 permutations, and DATA made by benchmarks/smoke_inputs.py
#   unless given.
# On a device machine with no network: carry the wheels and DATA, then
#   python3 -m pip install -q --no-index --no-deps WHEELS/*.whl; export PYTHONPATH=$PWD
#   bash benchmarks/reports/gpu_pages.sh $OUT DATA
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/reports_gpu}; DATA=${2:-}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
if [ "${SMOKE:-0}" = 1 ]; then
  WORK=${WORK:-$OUT/work}; rm -rf "$WORK"; mkdir -p "$WORK"
  [ -n "$DATA" ] || DATA=$(python3 benchmarks/smoke_inputs.py "$OUT/inputs" genomes reads gue tara ha1)
else
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-reports}; rm -rf "$WORK"; mkdir -p "$WORK"
  DATA=${DATA:?DATA: the inputs folder (see the header)}
fi
DATA=$(cd "$DATA" && pwd)
export PYTHONUNBUFFERED=1
G="python3 -m genolm"; T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/log.txt"; }
DEADLINE=$(( T0 + ${LIMIT:-510} ))  # every command ends by then (the pages are written after it)
run() {  # run NAME CMD...: the command's output to WORK/NAME.log, one line in the timeline
  local name=$1; shift; local left=$(( DEADLINE - $(date +%s) ))
  [ "$left" -gt 5 ] || { stamp "SKIPPED $name: no time left"; return; }
  stamp "start $name"
  if timeout "$left" "$@" > "$WORK/$name.log" 2>&1; then stamp "done $name"; else stamp "FAILED $name (rc $?): $(tail -1 "$WORK/$name.log")"; fi
}
if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu; FLAVOR=debug; MINUTES=${MINUTES:-0.02}; COMPILE=""; N=400; COND="--flavor debug --steps 3 --folds 3"
  EVO="--steps 2 --flavor debug"; FRAG=20; EPOCHS="--epochs 1"; GUE_N=48; PERM=9; BATCH=8
  HA1=$DATA/ha1.fasta; HA_LEN=150
else
  DEV=cuda; FLAVOR=small; MINUTES=${MINUTES:-2}; COMPILE="--compile"; N=0; COND="--flavor tiny --steps 4000 --folds 5"
  EVO="--steps 1500"; FRAG=2000; EPOCHS="--epochs 10 --patience 3"; GUE_N=0; PERM=99; BATCH=256
  HA1=data/h3n2_ha1_1968-2010.fasta.gz; HA_LEN=0
fi
# ---------------------------------------------------------------- inputs
mkdir -p "$WORK/sp4" "$WORK/camisim" "$WORK/gue"
gzip -dc "$DATA/sp4/truth.tsv.gz" > "$WORK/sp4/truth.tsv"
gzip -dc data/camisim_reads_mapping.tsv.gz > "$WORK/camisim/truth.tsv"
if [ "$N" = 0 ]; then
  cp "$DATA/sp4/reads.fastq.gz" "$WORK/sp4/"; cp data/camisim_reads.fasta.gz "$WORK/camisim/reads.fasta.gz"
  cp -r "$DATA/gue/." "$WORK/gue/"
else
  gzip -dc "$DATA/sp4/reads.fastq.gz" | head -n $((4 * N)) | gzip > "$WORK/sp4/reads.fastq.gz"
  gzip -dc data/camisim_reads.fasta.gz | head -n $((2 * N)) | gzip > "$WORK/camisim/reads.fasta.gz"
  (cd "$DATA/gue" && find . -name "*.csv*") | while read -r f; do
    mkdir -p "$WORK/gue/$(dirname "$f")"
    if [[ $f == *.gz ]]; then gzip -dc "$DATA/gue/$f" | head -n $((GUE_N + 1)) | gzip > "$WORK/gue/$f"
    else head -n $((GUE_N + 1)) "$DATA/gue/$f" > "$WORK/gue/$f"; fi
  done
fi
python3 data/tara_sheet.py --data "$DATA/tara" --out "$WORK/tara" >> "$OUT/log.txt" 2>&1
TARA=(--samples "$WORK/tara/samples.tsv" --id-pattern '^(?P<station>\d+)(?P<layer>[A-Z]{3})\d'
      --id-pattern '^TARA_(?P<station>\d+)_(?P<layer>[A-Z]{3})_' --sample-template 'S{station}{layer}' --alias SRF=SUR)
# the HA1 sequences (HA_LEN > 0: cut to that many bases), and the first one alone
python3 - "$HA1" "$WORK/h3n2.fa" "$WORK/ha1.fa" "$HA_LEN" <<'PY'
import sys
from genolm.io.seqio import read_records
cut = int(sys.argv[4]) or None
with open(sys.argv[2], "w") as o:
    for i, r in enumerate(read_records(sys.argv[1], case="upper")):
        o.write(f">{r.id}\n{r.seq[:cut]}\n")
        if i == 0:
            open(sys.argv[3], "w").write(f">{r.id.split('|')[0]}\n{r.seq[:cut]}\n")
PY
# ---------------------------------------------------------------- the three lanes
lane_a() {
  run prepare $G prepare "$DATA"/bacteria/*.fasta.gz --out "$WORK/corpus" --window 512 --split region --val-fraction 0.02 \
      --unknown n --no-progress
  run pretrain $G pretrain --data "$WORK/corpus" --out "$WORK/pretrain" --model $FLAVOR --objective mlm --device $DEV \
      --minutes "$MINUTES" --steps 1000000 --batch-size $BATCH --lr 1e-3 $COMPILE --eval-every 200 --eval-batches 20 \
      --save-every 1000000 --log-every 25
  M="$WORK/pretrain"
  run bin $G bin "$WORK/camisim/reads.fasta.gz" --model "$M" --truth "$WORK/camisim/truth.tsv" --out "$WORK/bin_camisim" \
      --device $DEV --no-progress &
  run classify $G classify "$WORK/sp4/reads.fastq.gz" --references "$DATA"/bacteria/*.fasta.gz --taxa "$DATA/species.tsv" \
      --model "$M" --ref-fragments $FRAG --truth "$WORK/sp4/truth.tsv" --out "$WORK/classify_sp4.tsv" --device $DEV --no-progress &
  run bench $G bench gue --model "$M" --data "$WORK/gue" --out "$WORK/bench_gue" $EPOCHS --batch-size 64 --device $DEV \
      --no-progress &
  run env_fit $G env fit "${TARA[@]}" --target temperature_c --target salinity_psu --model "$M" \
      --permutations $PERM --device $DEV --out "$WORK/env_fit" --no-progress &
  wait
}
lane_b() {
  run env_condition $G env condition "${TARA[@]}" --condition temperature_c --condition layer $COND --fold 0 --batch-size $(( BATCH < 64 ? BATCH : 64 )) \
      --device $DEV --out "$WORK/env_condition" --no-progress
}
lane_c() {
  run evolve $G evolve --data "$WORK/h3n2.fa" --until 2009 --predict 2010 $EVO --device $DEV \
      --out "$WORK/evolve_2010" --no-progress
  run score $G score "$WORK/ha1.fa" --model "$WORK/evolve_2010" --level aa --device $DEV --out "$WORK/score_ha1_aa.parquet" \
      --no-progress
}
stamp "lanes A (pretrain, then bin, classify, bench, env fit), B (env condition), C (evolve, score)"
lane_a & lane_b & lane_c & wait
# ---------------------------------------------------------------- pages
page() {  # page NAME TITLE PATH...
  local name=$1 title=$2; shift 2
  local have=(); for p in "$@"; do [ -e "$p" ] && have+=("$p"); done
  [ ${#have[@]} -gt 0 ] || { stamp "no outputs for $name.html"; return; }
  DEADLINE=$(( $(date +%s) + ${PAGE_LIMIT:-120} )) run "report_$name" $G report "${have[@]}" --out "$OUT/$name.html" --title "$title" --plotly-js plotly.min.js
}
D=$(date -u +%Y-%m-%d); CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1); CARD=${CARD:-CPU}
page pretrain "genolm pretrain: masked small model on 16 bacterial genomes ($CARD, $D)" "$WORK/pretrain"
page bench "genolm bench gue: that model fine-tuned on three GUE tasks ($CARD, $D)" "$WORK/bench_gue"
page metagenome "genolm bin and classify with that model: CAMISIM and a 4-species mock ($CARD, $D)" \
     "$WORK/bin_camisim" "$WORK/classify_sp4.tsv"
page env "genolm env: Tara Oceans RNA-virus contigs, sequence to environment and back ($CARD, $D)" \
     "$WORK/env_fit" "$WORK/env_condition"
page evolve "genolm evolve and score: H3N2 HA1, trained to 2009, forecast 2010 ($CARD, $D)" \
     "$WORK/evolve_2010" "$WORK/score_ha1_aa.parquet"
for f in "$WORK"/*.log; do echo "== $(basename "$f")" >> "$OUT/log.txt"; grep -v "it/s\]" "$f" | tail -40 >> "$OUT/log.txt"; done
(cd "$WORK" && find . -maxdepth 3 \( -name "*.json" -o -name "results.tsv" -o -name "metrics.jsonl" -o -name "*.metrics.json" \
    -o -name "samples.tsv" \) -size -2M | tar czf "$OUT/results.tgz" -T -)
stamp "end"; grep -h "FAILED" "$OUT/log.txt"; ls -la "$OUT"
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a page or the results are missing
  for f in pretrain.html bench.html metagenome.html env.html evolve.html results.tgz; do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
exit 0
