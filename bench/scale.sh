#!/usr/bin/env bash
# Scale: time and peak memory of `rotor probe` for 10k, 100k and 1M attempts
# (zero-delay simulator, --no-stream, concurrency 8), and of `rotor report`
# over 100k, 300k and 1M records (synthetic, bench/gen_records.py).
# /usr/bin/time -v gives the wall time and the peak resident set size.
#
#   bench/scale.sh [probe|report]      # both by default
source "$(dirname "$0")/lib.sh"
need jq python3 curl
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (apt-get install time)" >&2; exit 3; }
build
WHAT=${1:-both}
machine

if [[ $WHAT != report ]]; then
    MODEL=bench/a
    registry "$WORK/registry.yaml" "$MODEL"
    start_sim bench/scenarios/zero.yaml
    echo "| probe attempts | wall (s) | attempts/s | peak RSS (MB) |"
    echo "|---|---|---|---|"
    for n in ${PROBE_SIZES:-10000 100000 1000000}; do
        curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
        rm -f "$WORK/p.jsonl"
        /usr/bin/time -v -o "$WORK/time.txt" "$ROTOR" probe -q --registry "$WORK/registry.yaml" \
            --base-url "$SIM_URL" --models "$MODEL" --prompts parse-duration --repeat "$n" \
            --concurrency "${CONCURRENCY:-8}" --no-stream --no-validate --json \
            --out "$WORK/p.jsonl" >"$WORK/p.json" 2>/dev/null
        got=$(grep -c '"kind":"attempt"' "$WORK/p.jsonl")
        [[ $got == "$n" ]] || { echo "probe wrote $got attempt records, not $n" >&2; exit 1; }
        w=$(wall_s "$WORK/time.txt")
        printf '| %s | %s | %.0f | %s |\n' "$n" "$w" "$(echo "$n / $w" | bc -l)" "$(peak_rss_mb "$WORK/time.txt")"
    done
    stop_sim
fi

if [[ $WHAT != probe ]]; then
    echo "| report records | file (MB) | wall (s) | records/s | peak RSS (MB) |"
    echo "|---|---|---|---|---|"
    for n in ${REPORT_SIZES:-100000 300000 1000000}; do
        f="$WORK/r$n.jsonl"
        [[ -s $f ]] || python3 bench/gen_records.py "$n" "$f"
        lines=$(wc -l <"$f")
        /usr/bin/time -v -o "$WORK/time.txt" "$ROTOR" report --registry registry.yaml \
            --half-life 0 --json "$f" >"$WORK/r.json" 2>"$WORK/r.err" || { cat "$WORK/r.err" >&2; exit 1; }
        w=$(wall_s "$WORK/time.txt")
        printf '| %s | %.0f | %s | %.0f | %s |\n' "$lines" "$(echo "$(stat -c %s "$f") / 1000000" | bc -l)" \
            "$w" "$(echo "$lines / $w" | bc -l)" "$(peak_rss_mb "$WORK/time.txt")"
    done
fi
