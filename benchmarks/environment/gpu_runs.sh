#!/usr/bin/env bash
# The GPU run behind the conditioned-model rows of docs/benchmarks/environment.md: one call on one GPU.
#   bash benchmarks/environment/gpu_runs.sh OUTDIR DATA
#   SMOKE=1 bash benchmarks/environment/gpu_runs.sh    # the same plan on a CPU: data/tara's 6 samples
# DATA holds the Tara files data/tara_sheet.py reads (contigs_votus_id90.fasta.gz,
# tara_env_guidi2016_SI4.tsv, tara_sample_metadata_hogle.tsv; ../shared/data/ocean/tara_rna_virus).
# 1. The sample sheet (243 samples, every contig placed by its id).
# 2. genolm env condition on temperature_c and layer, whole stations held out (fold FOLD of 5
#    station folds of the samples with both values), for each RUNS entry "FLAVOR STEPS SEED FOLD":
#    a new causal model, both strands, batch 64, windows of 512; then the permutation test (9,999
#    shufflings) and the model read backwards as a predictor.  The default plan holds out each
#    of the 5 folds once, and benchmarks/environment/condition_folds.py combines them into one test
#    on every sample (OUTDIR/folds.json).
#    The same test on as many training samples ("in-sample"): no signal at all, or one that does not
#    carry over to new stations?
# 3. OUTDIR/summary.tsv: one row per run and condition set; all_metrics.json: every run's
#    metrics.json; held_out.tgz: every run's held_out.npz (to combine folds again); log.txt:
#    everything printed.
# OUTDIR defaults to $BENCH_OUT/environment_gpu ($BENCH_OUT: benchmarks/out); WORK (default
# $TMPDIR/genolm-environment) keeps the sheet and the runs. FOLDS (default 5): station folds.
# SMOKE=1: the same plan on a CPU with a debug model, 3 steps of 8 windows, two of 3 folds, and DATA
#   made from data/tara by benchmarks/smoke_inputs.py (90 contigs) unless given.
# On a device machine with no network: carry the wheels (pyfastx, dnaio, ...) and DATA, then
#   python3 -m pip install -q --no-index --no-deps WHEELS/*.whl; export PYTHONPATH=$PWD
#   bash benchmarks/environment/gpu_runs.sh $OUT DATA
set -u
OUT=${1:-${BENCH_OUT:-benchmarks/out}/environment_gpu}; DATA=${2:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/log.txt"; }
if [ "${SMOKE:-0}" = 1 ]; then DEV=cpu; RUNS=${RUNS:-"debug 3 0 0|debug 3 0 1"}; FOLDS=${FOLDS:-3}; WORK=${WORK:-$OUT/work}; BATCH=8
  [ -n "$DATA" ] || DATA=$(python3 benchmarks/smoke_inputs.py "$WORK/inputs" tara)/tara
else DEV=cuda; RUNS=${RUNS:-"tiny 4000 0 0|tiny 4000 0 1|tiny 4000 0 2|tiny 4000 0 3|tiny 4000 0 4"}; FOLDS=${FOLDS:-5}; BATCH=64
  WORK=${WORK:-${TMPDIR:-/tmp}/genolm-environment}; DATA=${DATA:?DATA: the Tara folder (see the header)}; fi
mkdir -p "$WORK"
stamp "sheet"
python3 data/tara_sheet.py --data "$DATA" --out "$WORK/tara" 2>&1 | tee -a "$OUT/log.txt"
IFS='|' read -ra PLAN <<< "$RUNS"
for spec in "${PLAN[@]}"; do
  read -r flavor steps seed fold <<< "$spec"
  name="${flavor}_${steps}_seed${seed}_fold${fold}"
  stamp "env condition $name"
  python3 -m genolm env condition --samples "$WORK/tara/samples.tsv" \
    --id-pattern '^(?P<station>\d+)(?P<layer>[A-Z]{3})\d' --id-pattern '^TARA_(?P<station>\d+)_(?P<layer>[A-Z]{3})_' \
    --sample-template 'S{station}{layer}' --alias SRF=SUR --condition temperature_c --condition layer \
    --flavor "$flavor" --steps "$steps" --seed "$seed" --batch-size $BATCH --folds "$FOLDS" --fold "$fold" \
    --device "$DEV" --no-progress --out "$WORK/$name" 2>&1 | tee -a "$OUT/log.txt"
done
for flavor in $(printf '%s\n' "${PLAN[@]}" | awk '{print $1 "_" $2 "_seed" $3}' | sort -u); do
  runs=$(ls -d "$WORK/${flavor}"_fold* 2>/dev/null)
  [ "$(echo "$runs" | wc -l)" -gt 1 ] || continue
  stamp "folds combined: $flavor"
  python3 benchmarks/environment/condition_folds.py $runs --out "$WORK/${flavor}.folds.json" 2>&1 | tee -a "$OUT/log.txt"
done
stamp "summary"
python3 - "$WORK" "$OUT" <<'EOF' 2>&1 | tee -a "$OUT/log.txt"
import json, pathlib, shutil, sys
work, out = map(pathlib.Path, sys.argv[1:])
rows = ["run\tconditions\ttrue_bpb\tshuffled_bpb\tunknown_bpb\tgain_bits_per_kb\town_beats\tp_value\t"
        "pred_seq\tpred_sample\tmean_seq\tmean_sample\theld_out_seqs\theld_out_samples\ttrain_s\tscore_s"]
for m_path in sorted(work.glob("*/metrics.json")):
    m, run = json.loads(m_path.read_text()), m_path.parent.name
    pairs = [("all", m)] + list(m["per_condition"].items())
    if m.get("in_sample"):
        pairs += [("in-sample all", m["in_sample"])] + [("in-sample " + k, v) for k, v in m["in_sample"]["per_condition"].items()]
    for name, r in pairs:
        q = r.get("predicted", {})
        s, a = q.get("per_sequence", {}), q.get("per_sample", {})
        rows.append("\t".join(map(str, [run, name, round(r["true_bpb"], 5), round(r["shuffled_bpb"], 5),
                    round(r.get("unknown_bpb", m["unknown_bpb"]), 5), round(r["gain_bits_per_kb"], 3), round(r["own_condition_beats"], 3),
                    r["p_value"], round(s.get("score", float("nan")), 3), round(a.get("score", float("nan")), 3),
                    round(s.get("mean_baseline", float("nan")), 3), round(a.get("mean_baseline", float("nan")), 3),
                    m["held_out"]["sequences"], m["held_out"]["samples"], m["train"]["seconds"], m["score_seconds"]])))
(out / "summary.tsv").write_text("\n".join(rows) + "\n")
(out / "all_metrics.json").write_text(json.dumps({p.parent.name: json.loads(p.read_text()) for p in sorted(work.glob("*/metrics.json"))}, indent=1))
folds = {p.name[: -len(".folds.json")]: json.loads(p.read_text()) for p in sorted(work.glob("*.folds.json"))}
if folds:
    (out / "folds.json").write_text(json.dumps(folds, indent=1))
print("\n".join(rows))
first = sorted(work.glob("*/permutation.png"))
if first:
    shutil.copy(first[0], out / "permutation.png")
EOF
(cd "$WORK" && tar czf "$OUT/held_out.tgz" */held_out.npz 2>/dev/null)
stamp "done"
if [ "${SMOKE:-0}" = 1 ]; then  # a smoke run fails where a step left no result
  for f in summary.tsv all_metrics.json folds.json held_out.tgz; do
    [ -s "$OUT/$f" ] || { echo "SMOKE: no $OUT/$f" >&2; exit 1; }
  done
fi
exit 0
