#!/usr/bin/env bash
# The GPU run behind the language-model rows of docs/benchmarks/metagenome.md: one 10-minute call on one GPU.
#   bash benchmarks/metagenome/gpu_runs.sh OUTDIR DATA
#   SMOKE=1 bash benchmarks/metagenome/gpu_runs.sh     # the same plan on a CPU, made-up reads
# DATA holds bacteria/*.fasta.gz (the 16 genomes), species.tsv (genome -> species), and samples made
# by `genolm simulate` here (InSilicoSeq is not on the GPU machine): sp4/ (4 species, one strain each,
# 100,000 single reads) and sa5/ (5 S. aureus strains, 50,000 single reads), each reads.fastq.gz +
# truth.tsv.gz; CAMISIM's reads come from the repo's data/.
# 1. genolm prepare (the 16 genomes, windows of 512) -> genolm pretrain, masked LM, `small`, --minutes.
# 2. genolm bin --model RUN on each sample: --features embedding and both (the TNF baseline is scored
#    in the same run), --truth.
# 3. genolm classify --model RUN on sp4 (against all 16 strains, --taxa species) and sa5 (the 5 strains),
#    the k-mer baseline scored in the same run.
# 4. Speed: genolm bin --features embedding on 1,000,000 reads = the sp4 reads 10 times (renamed).
# Not in this call by default (about 4 minutes, mostly the k-mer baseline on the CPU): 16S genus/phylum
#   with the same model, PARTS=16s (benchmarks/metagenome/classify_16s.py on DATA/16S.fasta.gz).
# MODEL=RUN: skip step 1 and use this genolm run (e.g. the model of an earlier call, carried).
# PARTS (default "bin classify speed"; add "16s" for the 16S set with the model, DATA/16S.fasta.gz).
# SAMPLES (default "sp4 sa5 camisim"): the samples binned. FEATURES (default "embedding";
#   "embedding both" adds the concatenated features, two more UMAPs each).
# OUTDIR defaults to $BENCH_OUT/metagenome_gpu ($BENCH_OUT: benchmarks/out); WORK (default
#   $TMPDIR/genolm-metagenome) keeps the corpus, the model and the bins.
# SMOKE=1: the same plan on a CPU with a debug model, 400 reads per sample, sp4 binned only (each
#   `genolm bin` spends ~14 s compiling UMAP), all parts including 16s, and DATA made by
#   benchmarks/smoke_inputs.py unless given.
#
# DATA as used for the published rows: bacteria/ = ../shared/data/genomes/bacteria;
#   sp4 = genolm simulate E.Coli__MG1655-K12 H.Pylori__G27 S.Aureus__COL V.Cholerae__O395 --reads 100000 --single --seed 1
#   sa5 = genolm simulate S.Aureus__*.fasta.gz --reads 50000 --single --seed 1   (truth.tsv gzipped)
#   species.tsv = genome <TAB> the name before "__"
# On a device machine with no network: carry the wheels (umap-learn, pynndescent, pyfastx...) and DATA, then
#   python3 -m pip install -q --no-index --no-deps WHEELS/*.whl; export PYTHONPATH=$PWD
#   bash benchmarks/metagenome/gpu_runs.sh /tmp/o5 $PWD/DATA; tar czf $OUT/metagenome.tgz -C /tmp/o5 .
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/metagenome_gpu}; DATA=${2:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
G="python3 -m genolm"; T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/timeline.txt"; }
if [ "${SMOKE:-0}" = 1 ]; then DEV=cpu; FLAVOR=debug; MIN=${PRETRAIN_MIN:-0.02}; N=400; COMPILE=""; FRAG=50; COPIES=2
  BATCH=8; WORK=${WORK:-$OUT/work}; PARTS=${PARTS:-"bin classify speed 16s"}; SAMPLES=${SAMPLES:-sp4}
  [ -n "$DATA" ] || DATA=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" genomes reads 16s)
  [ -e "$DATA/16S.fasta.gz" ] || cp "$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" 16s)/16S.fasta.gz" "$DATA/"
else DEV=cuda; FLAVOR=small; MIN=${PRETRAIN_MIN:-2}; N=0; COMPILE="--compile"; FRAG=2000; COPIES=10; BATCH=256
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-metagenome}; DATA=${DATA:?DATA: the samples folder (see the header)}; fi
mkdir -p "$WORK"
for s in sp4 sa5; do  # unpack the samples (the first N reads with SMOKE)
  mkdir -p "$WORK/$s"; gzip -dc "$DATA/$s/truth.tsv.gz" > "$WORK/$s/truth.tsv"
  if [ "$N" = 0 ]; then cp "$DATA/$s/reads.fastq.gz" "$WORK/$s/"; else gzip -dc "$DATA/$s/reads.fastq.gz" | head -n $((4 * N)) | gzip > "$WORK/$s/reads.fastq.gz"; fi
done
mkdir -p "$WORK/camisim"; gzip -dc data/camisim_reads_mapping.tsv.gz > "$WORK/camisim/truth.tsv"
if [ "$N" = 0 ]; then cp data/camisim_reads.fasta.gz "$WORK/camisim/reads.fasta.gz"
else gzip -dc data/camisim_reads.fasta.gz | head -n $((2 * N)) | gzip > "$WORK/camisim/reads.fasta.gz"; fi

has() { case " ${PARTS:-bin classify speed} " in *" $1 "*) return 0;; esac; return 1; }
if [ -n "${MODEL:-}" ]; then mkdir -p "$WORK"; rm -rf "$WORK/run"; cp -r "$MODEL" "$WORK/run"; stamp "model $MODEL"
else
stamp "prepare + pretrain ($FLAVOR, $MIN min)"
$G prepare "$DATA"/bacteria/*.fasta.gz --out "$WORK/corpus" --window 512 --val-fraction 0.01 --unknown n --no-progress \
  > "$OUT/prepare.txt" 2>&1 || { stamp "prepare failed"; exit 1; }
$G pretrain --data "$WORK/corpus" --out "$WORK/run" --model $FLAVOR --objective mlm --device $DEV --minutes $MIN \
  --steps 1000000 --batch-size $BATCH --lr 1e-3 $COMPILE --eval-every 400 --eval-batches 40 --save-every 1000000 \
  --log-every 50 > "$OUT/pretrain.txt" 2>&1 || { stamp "pretrain failed"; exit 1; }
cp "$WORK/run/metrics.jsonl" "$OUT/pretrain_metrics.jsonl"
fi

has bin && for s in ${SAMPLES:-sp4 sa5 camisim}; do
  R=$(ls "$WORK/$s"/reads.*); T="$WORK/$s/truth.tsv"
  for f in ${FEATURES:-embedding}; do
    stamp "bin $s --features $f"
    $G bin "$R" --model "$WORK/run" --features $f --truth "$T" --out "$WORK/bin_${s}_$f" --device $DEV --no-progress \
      > "$OUT/bin_${s}_$f.txt" 2>&1 && cp "$WORK/bin_${s}_$f/summary.json" "$OUT/bin_${s}_$f.json"
  done
done
if has classify; then
stamp "classify sp4 (16 strains, species taxa), sa5 (5 strains)"
$G classify "$WORK/sp4/reads.fastq.gz" --references "$DATA"/bacteria/*.fasta.gz --taxa "$DATA/species.tsv" \
  --model "$WORK/run" --ref-fragments $FRAG --truth "$WORK/sp4/truth.tsv" --out "$WORK/cls_sp4.tsv" --device $DEV \
  --no-progress > "$OUT/classify_sp4.txt" 2>&1
$G classify "$WORK/sa5/reads.fastq.gz" --references "$DATA"/bacteria/S.Aureus__*.fasta.gz --model "$WORK/run" \
  --ref-fragments $FRAG --truth "$WORK/sa5/truth.tsv" --out "$WORK/cls_sa5.tsv" --device $DEV --no-progress \
  > "$OUT/classify_sa5.txt" 2>&1
cp "$WORK"/cls_*.metrics.json "$OUT/" 2>/dev/null
fi

if has speed; then
stamp "speed: bin 1M reads (sp4 x $COPIES)"
python3 - "$WORK/sp4/reads.fastq.gz" "$WORK/big.fasta" $COPIES <<'PY'
import gzip, sys
src, dst, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(src, "rt") as f:
    lines = f.read().splitlines()
with open(dst, "w") as o:
    for c in range(copies):
        for i in range(0, len(lines), 4):
            o.write(f">c{c}_{lines[i][1:].split()[0]}\n{lines[i + 1]}\n")
PY
/usr/bin/time -v $G bin "$WORK/big.fasta" --model "$WORK/run" --features embedding --out "$WORK/bin_big" --device $DEV \
  --no-progress > "$OUT/bin_big.txt" 2>&1; cp "$WORK/bin_big/summary.json" "$OUT/bin_big.json" 2>/dev/null
fi
if has 16s; then
  stamp "16S genus/phylum with the model"
  python3 benchmarks/metagenome/classify_16s.py --data "$DATA/16S.fasta.gz" --out "$WORK/o16" --model "$WORK/run" \
    --device $DEV > "$OUT/bench_16s.txt" 2>&1; cp "$WORK"/o16/*.json "$OUT/" 2>/dev/null
fi
stamp "done"
grep -h -A4 "^features" "$OUT"/bin_*.txt; grep -h -A6 "^method" "$OUT"/classify_*.txt
grep -h "sequences/s\|Maximum resident\|Elapsed" "$OUT/bin_big.txt"; tail -8 "$OUT/bench_16s.txt" 2>/dev/null
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in pretrain_metrics.jsonl cls_sp4.metrics.json cls_sa5.metrics.json bin_big.json bench_16s.json \
           $(for s in ${SAMPLES}; do for f in ${FEATURES:-embedding}; do echo bin_${s}_$f.json; done; done); do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
exit 0
