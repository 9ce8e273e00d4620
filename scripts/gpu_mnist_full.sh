#!/usr/bin/env bash
# QuATON Figure 3 at the literature's scale on one lent GPU, in one call (issue 15):
#   phase 1: full precision (FP_EPOCHS), optionally beside PSQ and PSQ-LT from scratch (SCRATCH_EPOCHS)
#            at SCRATCH_LEVELS;
#   phase 2: when FP is done, every quantization-aware method at 2 / 4 / 8 levels fine-tuned from it
#            (train.init_from, FT_EPOCHS each) and PQ (FP rounded), all at once on the GPU.
# Everything runs on configs/d2nn_paper.yaml (5 x 200^2, 0.53 lambda pitch, 40 lambda gaps), full MNIST.
# Results land in $OUT as tarballs refreshed every 20 s, so a call cut short keeps its finished epochs.
#
# Usage (repo root): OUT=/tmp/out QUATON_DATA=/path/to/data bash scripts/gpu_mnist_full.sh
# Environment: DEVICE (cuda), FP_EPOCHS (12), SCRATCH_EPOCHS (3), FT_EPOCHS (2), BUDGET_S (500),
#              SCRATCH_LEVELS (empty: no runs from scratch; "2 4" ran them in the T = 10 call),
#              LOW_LR_METHODS ("ste gs": these fine-tune at LOW_LR, 0.002, instead of the config's 0.02),
#              EXTRA (more --set flags for every run, e.g. a tiny grid for a dry run on a CPU).
set -u
DEVICE=${DEVICE:-cuda}
FP_EPOCHS=${FP_EPOCHS:-12}
SCRATCH_EPOCHS=${SCRATCH_EPOCHS:-3}
FT_EPOCHS=${FT_EPOCHS:-2}
BUDGET_S=${BUDGET_S:-500}
EXTRA=${EXTRA:-}
SCRATCH_LEVELS=${SCRATCH_LEVELS-}
LOW_LR_METHODS=${LOW_LR_METHODS-ste gs}
LOW_LR=${LOW_LR:-0.002}
PY=${PY:-python3}
R=${RUNS:-/tmp/mnist_full_runs}
mkdir -p "$R" "$OUT"
rm -f "$R/.stop"
start=$(date +%s)
common="--set train.device=$DEVICE --set train.progress=false --set train.threads=1 $EXTRA"

train() {  # name, then --set flags
    local name=$1; shift
    [[ -e "$R/.stop" ]] && return
    echo "[$(( $(date +%s) - start )) s] start $name"
    $PY -m quaton train configs/d2nn_paper.yaml --run-dir "$R/$name" $common "$@" >"$R/$name.log" 2>&1
    local rc=$?
    echo "[$(( $(date +%s) - start )) s] end $name rc=$rc"
}

archive() {  # metrics and logs in one file, figures in another (each must stay under 16 MB)
    tar czf "$OUT/results.tgz.tmp" -C "$R" --exclude='*.pt' --exclude=figures --exclude=report.html . 2>/dev/null &&
        mv "$OUT/results.tgz.tmp" "$OUT/results.tgz"
    tar czf "$OUT/figures.tgz.tmp" -C "$R" --exclude='*.pt' --exclude=report.html --exclude='*.log' \
        --exclude='*.json*' --exclude='*.yaml' . 2>/dev/null && mv "$OUT/figures.tgz.tmp" "$OUT/figures.tgz"
}
(while true; do archive; sleep 20; done) &
archiver=$!

(
    train fp --set train.epochs="$FP_EPOCHS" &
    fp_pid=$!
    for levels in $SCRATCH_LEVELS; do
        for method in psq psq-lt; do
            train "scratch-$method-$levels" --set train.epochs="$SCRATCH_EPOCHS" \
                --set quantization.method=$method --set quantization.levels=$levels &
        done
    done
    wait $fp_pid
    for levels in 2 4 8; do
        for method in ste gs psq psq-lt; do
            lr=()
            [[ " $LOW_LR_METHODS " == *" $method "* ]] && lr=(--set train.lr="$LOW_LR")
            train "ft-$method-$levels" --set train.epochs="$FT_EPOCHS" --set train.init_from="$R/fp" \
                --set quantization.method=$method --set quantization.levels=$levels "${lr[@]}" &
        done
    done
    for levels in 2 4 8; do  # PQ: the FP network rounded to the levels, evaluated as the device
        [[ -e "$R/.stop" ]] && break
        (
            $PY -m quaton eval "$R/fp" --set quantization.method=pq --set quantization.levels=$levels \
                --set train.device="$DEVICE" $EXTRA --json "$R/pq-$levels.json" >"$R/pq-$levels.log" 2>&1
            rc=$?
            echo "[$(( $(date +%s) - start )) s] pq $levels rc=$rc"
        ) &
    done
    wait
) &
work=$!
# past the budget no run starts and every run is stopped (the pattern is anchored so that it does not
# match a shell whose command line names these runs)
(
    sleep "$BUDGET_S"
    echo "budget of $BUDGET_S s spent: stopping"
    touch "$R/.stop"
    while true; do pkill -f "^$PY -m quaton (train|eval)"; sleep 1; done
) &
watchdog=$!
wait $work
pkill -P $watchdog; pkill -P $archiver; kill $watchdog $archiver 2>/dev/null
archive
tar czf "$OUT/checkpoints.tgz" -C "$R" ./fp/checkpoint.pt ./ft-psq-2/checkpoint.pt ./ft-psq-4/checkpoint.pt \
    ./ft-psq-8/checkpoint.pt 2>/dev/null
echo "done after $(( $(date +%s) - start )) s"
