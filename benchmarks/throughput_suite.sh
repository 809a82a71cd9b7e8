#!/usr/bin/env bash
# Every throughput table of the benchmarks page, in one run, one script after the other on the same
# machine and the same vocabguard tree: logs and JSON under out/throughput/<UTC time>/.
#
#   bash benchmarks/throughput_suite.sh            # 100 MB tables, then scale 100 MB -> 5 GB
#   SCALE_MB="100 1000" bash benchmarks/throughput_suite.sh
#
# Nothing asserts on time; each script prints its own targets (met / missed) and the
# contention (CPU other work used while each row ran). The corpora are written once under
# .cache/bench/ (5 GB takes ~25 min to generate); TFT's rows run in .venv-tft (created
# when missing, from the package registries).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=out/throughput/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} TF_CPP_MIN_LOG_LEVEL=3

step() {  # step NAME COMMAND...: run it, keep its output, stop on failure
    local name=$1
    shift
    echo "== $name: $* ($(date -u +%H:%M:%S) UTC)"
    "$@" 2>&1 | tee "$OUT/$name.log"
}

step build_vs_tft "$PY" benchmarks/build_vs_tft.py --repeat 3 --slow-repeat 1 \
    --only vg-beam-1 vg-inproc pyarrow keras tft-vocab tft-approx --json "$OUT/build_vs_tft.json"
step build_workers "$PY" benchmarks/build_workers.py --files 1 8 --repeat 3 \
    --json "$OUT/build_workers.json"
step inprocess_vs_pyarrow "$PY" benchmarks/inprocess_vs_pyarrow.py --files 1 8 --repeat 3 \
    --json "$OUT/inprocess_vs_pyarrow.json"
step encode_tfdata "$PY" benchmarks/encode_tfdata.py --repeat 3 --json "$OUT/encode_tfdata.json"
# shellcheck disable=SC2086  # SCALE_MB is a list of sizes
step scale "$PY" benchmarks/scale.py --mb ${SCALE_MB:-100 1000 5000} --json "$OUT/scale.json"
echo "== done ($(date -u +%H:%M:%S) UTC): $OUT"
