#!/usr/bin/env bash
# Issue 7's GPU checks in one run (about 8 minutes on an H200 when the data was solved
# in batches on the GPU; the data now comes from `simkit generate` on the CPU cores,
# which has not been timed there):
#   1. surrogate rollout against the spectral solver on the GPU (bench_surrogate);
#   2. the FNO Navier-Stokes data (data/recipes/ns2d_nu1e-3.yaml through simkit generate,
#      GEN_WORKERS Dask workers per dataset): 1000 / 100 / 200 trajectories solved at 64^2,
#      and 100 test trajectories solved at 128^2, stored at 64^2 and 128^2 (super-resolution);
#   3. FNO on 100, 250 and 1000 trajectories (learning curve) and NeuralStagger
#      (2 x 2 space, 2 time) on 1000, trained concurrently for BUDGET seconds each;
#   4. each evaluated through surrogates.load on the test sets, then the report.
# Everything lands in $OUT/results.tgz (repacked after each stage, so a run cut short
# still returns what it made) and the FNO-1000 weights in $OUT/fno_1000.pt.
# Empty BENCH_BATCHES or N_STAGGER skip those parts. TRAIN_CALLS=K trains the FNO runs on
# every window of K calls instead of the paper's one 40-call window per trajectory (with
# K = 1, teacher forcing, a step makes 1 model call instead of 40: an estimate of 40 times
# cheaper, not measured on a GPU; fno_ns_cpu.md has the CPU runs).
# neuraloperator, tensorly, tensorly-torch and dill must be importable.
set -uo pipefail
BUDGET=${BUDGET:-300}
SIZES=${SIZES:-train:1000,valid:100,test:200}
SR=${SR:-test:100}
N_CURVE=${N_CURVE:-100 250 1000}
N_STAGGER=${N_STAGGER-1000}
CALLS=${TRAIN_CALLS:+--train-calls $TRAIN_CALLS}
DEVICE=${DEVICE:-cuda}
GEN_WORKERS=${GEN_WORKERS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
WORK=${WORK:-/tmp/fno_ns}
OUT=${OUT:?set OUT}
R=$WORK/results
mkdir -p "$R"
export PYTHONUNBUFFERED=1
run="python3 -m experiments.reproduce_fno_ns --work $WORK"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
pack() { tar czf "$OUT/results.tgz" -C "$R" . ; }

stamp bench
[ -n "${BENCH_BATCHES-1,16}" ] && python3 -m experiments.bench_surrogate --out "$R" --name surrogate_bench_gpu \
    --batches "${BENCH_BATCHES:-1,16}" --solvers "${BENCH_SOLVERS:-256:1e-4:euler,64:4e-3:heun}" \
    --device "$DEVICE" > "$R/bench.log" 2>&1
tail -n 8 "$R/bench.log"; pack

stamp generate
# simkit generate on Dask workers (CPU, numpy): the two datasets share the cores
$run generate ns --splits "$SIZES" --resolution 64 --stored 64 --dt 4e-3 \
    --workers "$GEN_WORKERS" --codec none > "$R/generate_ns.log" 2>&1 &
$run generate sr --splits "$SR" --resolution 128 --stored 64,128 --dt 4e-3 \
    --workers "$GEN_WORKERS" --codec none > "$R/generate_sr.log" 2>&1 &
wait
tail -n 2 "$R"/generate_*.log; cp "$WORK/ns_64/README.md" "$R/ns_64_card.md"; pack

stamp train
for n in $N_CURVE; do
    $run train "$WORK/ns_64" "fno_$n" --n-train "$n" --budget "$BUDGET" --workers 2 $CALLS \
        > "$R/train_fno_$n.log" 2>&1 &
done
[ -n "$N_STAGGER" ] && $run train "$WORK/ns_64" "stagger_$N_STAGGER" --model stagger \
    --stagger-time 2 --n-train "$N_STAGGER" --budget "$BUDGET" --workers 2 \
    > "$R/train_stagger.log" 2>&1 &
wait
grep -h "^train\|Error" "$R"/train_*.log; cp "$WORK"/train/*.json "$R/"
for d in "$WORK"/train/*/version_0; do
    cp "$d/metrics.csv" "$R/metrics_$(basename "$(dirname "$d")").csv"
done
pack

stamp evaluate
for n in $N_CURVE; do
    $run evaluate "fno_$n" "$WORK/ns_64" "$WORK/sr_64" "$WORK/sr_128" --device "$DEVICE" \
        > "$R/eval_fno_$n.log" 2>&1
done
[ -n "$N_STAGGER" ] && $run evaluate "stagger_$N_STAGGER" "$WORK/ns_64" "$WORK/sr_64" \
    --device "$DEVICE" > "$R/eval_stagger.log" 2>&1
grep -h "^evaluate\|Error" "$R"/eval_*.log
$run report --out "$R" --name fno_ns_reproduction_gpu | tail -n 12
[ -f "$WORK/train/fno_1000.json" ] && python3 - "$WORK" "$OUT" <<'PY'
import json, sys, torch
work, out = sys.argv[1:]
record = json.load(open(f"{work}/train/fno_1000.json"))
ckpt = torch.load(f"{work}/{record['checkpoint']}", map_location="cpu", weights_only=True)
torch.save({k: ckpt[k] for k in ("surrogate", "state_dict")}, f"{out}/fno_1000.pt")
PY
pack
stamp done
