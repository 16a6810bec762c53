#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for MINUTES minutes each and
# prints, per target, the executions, coverage, corpus size and findings.
#
#   fuzz/run.sh [MINUTES] [TARGET...]       e.g. fuzz/run.sh 3 sse_decoder
#
# Environment: JOBS=2 runs two targets at a time (default 1: the machine is
# small); SANITIZER=address builds with ASan (default none: rotor's fuzzed code
# is safe Rust, and without ASan libFuzzer runs several times faster);
# TOOLCHAIN=+nightly (cargo-fuzz needs nightly; with only a stable toolchain,
# set TOOLCHAIN= and RUSTC_BOOTSTRAP=1).
#
# Corpora live in fuzz/corpus/<target> (not committed): each run starts from
# what earlier runs found plus the seeds: fuzz/seeds/<target> and, for the
# loaders, the repository's own registry.yaml, suites and scenarios.
# Crashes, timeouts (> 5 s per input) and memory blow-ups (> 2 GiB) land in
# fuzz/artifacts/<target>; logs in fuzz/logs/<target>.log.
set -euo pipefail

MINUTES=${1:-2}
shift || true
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
ALL=(sse_decoder classify_response retry_after registry_load suite_load scenario_load)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
JOBS=${JOBS:-1}
SANITIZER=${SANITIZER:-none}
TOOLCHAIN=${TOOLCHAIN-+nightly}
SECONDS_EACH=$((MINUTES * 60))

dict_of() {
    case $1 in
        sse_decoder) echo dict/sse.dict ;;
        classify_response) echo dict/response.dict ;;
        retry_after) echo dict/retry_after.dict ;;
        *) echo dict/yaml.dict ;;
    esac
}

seed() {
    local t=$1 dir=corpus/$1
    mkdir -p "$dir" "artifacts/$t" logs
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "$dir"/ 2>/dev/null || true
    case $t in
        registry_load) cp -n "$ROOT/registry.yaml" "$dir/fixture-registry.yaml" ;;
        suite_load) for f in "$ROOT"/fixtures/suites/*.yaml; do cp -n "$f" "$dir/fixture-$(basename "$f")"; done ;;
        scenario_load) for f in "$ROOT"/fixtures/scenarios/*.yaml; do cp -n "$f" "$dir/fixture-$(basename "$f")"; done ;;
    esac
}

run_one() {
    local t=$1 log=logs/$1.log
    local before
    before=$(find "artifacts/$t" -type f | wc -l)
    # -fork/-ignore_crashes are not used: the first finding stops the run, so
    # it is reported and fixed before fuzzing goes on.
    cargo $TOOLCHAIN fuzz run -s "$SANITIZER" "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 \
        -dict="$(dict_of "$t")" -print_final_stats=1 >"$log" 2>&1 || true
    local after execs cov ft corpus
    after=$(find "artifacts/$t" -type f | wc -l)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    # A run stopped by a finding prints no final stats: take the last status line.
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    corpus=$(find "corpus/$t" -type f | wc -l)
    slowest=$(grep -o 'stat::slowest_unit_time_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    printf '%-18s execs=%-9s cov=%-5s ft=%-6s corpus=%-6s slowest=%ss rss=%sMB new_findings=%s\n' \
        "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "${slowest:-?}" "${rss:-?}" \
        "$((after - before))"
    if [ "$after" -gt "$before" ] || grep -q '^==[0-9]*== ERROR\|panicked at\|deadly signal\|Timeout\|out-of-memory' "$log"; then
        echo "  finding(s) in fuzz/artifacts/$t (log: fuzz/logs/$t.log):"
        grep -m3 'panicked at\|ERROR: libFuzzer\|SUMMARY' "$log" | sed 's/^/    /'
    fi
}

mkdir -p logs
if ! cargo $TOOLCHAIN fuzz build -s "$SANITIZER" >logs/build.log 2>&1; then
    tail -30 logs/build.log
    exit 1
fi
echo "fuzzing ${TARGETS[*]} for $MINUTES min each, $JOBS at a time (sanitizer: $SANITIZER)"
for t in "${TARGETS[@]}"; do seed "$t"; done
running=0
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
