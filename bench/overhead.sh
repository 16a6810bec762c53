#!/usr/bin/env bash
# Request rate of `rotor probe --no-stream` against oha on the same simulator
# endpoint (zero delays), at concurrency 1, 8 and 64, in the same run.
#
#   bench/overhead.sh            # needs oha (cargo install oha --locked)
#   ROUNDS=3 N1=5000 N=20000 bench/overhead.sh
#
# Both tools send the same request body (captured from rotor itself) to
# `rotor sim --scenario bench/scenarios/zero.yaml`. Each round runs oha then
# rotor at each concurrency; the figures are the medians over the rounds of
# each tool's own rate (oha: requestsPerSec; rotor: attempts / elapsed_s of
# its --json summary, which counts from before the engine is set up to after
# the last record is written). rotor runs without validation (--no-validate):
# what is measured is the HTTP side. A third client runs in each round too:
# the reqwest floor (examples/reqwest_floor.rs, the least a correct client
# does with reqwest, in rotor's client settings), which splits the gap into
# reqwest's (floor / oha) and rotor's own (rotor / floor).
source "$(dirname "$0")/lib.sh"
need oha jq python3
build
build_floor
ROUNDS=${ROUNDS:-3}
N1=${N1:-5000}
N=${N:-20000}
PROMPT=${PROMPT:-parse-duration}
MODEL=bench/a

registry "$WORK/registry.yaml" "$MODEL"

# The exact body rotor sends.
capture_body "$WORK/registry.yaml" "$MODEL" "$PROMPT"

start_sim bench/scenarios/zero.yaml
echo "$(machine); oha $(oha --version | awk '{print $2}')"
echo "simulator: $SIM_URL; body $(wc -c <"$WORK/body.json") bytes; rounds $ROUNDS"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "| concurrency | requests | oha req/s | reqwest floor req/s | rotor req/s | rotor / oha | floor / oha | rotor / floor |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in 1 8 64; do
    n=$N; [[ $c == 1 ]] && n=$N1
    : >"$WORK/oha.$c"; : >"$WORK/rotor.$c"; : >"$WORK/floor.$c"
    for r in $(seq 1 "$ROUNDS"); do
        curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
        oha -n "$n" -c "$c" -m POST -H 'content-type: application/json' \
            -D "$WORK/body.json" --no-tui --output-format json \
            "$SIM_URL/chat/completions" >"$WORK/oha.json"
        ok=$(jq '.statusCodeDistribution["200"] // 0' "$WORK/oha.json")
        [[ $ok == "$n" ]] || { echo "oha: only $ok of $n were 200" >&2; exit 1; }
        jq '.summary.requestsPerSec' "$WORK/oha.json" >>"$WORK/oha.$c"

        curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
        "$FLOOR" "$SIM_URL/chat/completions" "$WORK/body.json" "$n" "$c" | jq '.requests_per_s' >>"$WORK/floor.$c"

        curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
        rm -f "$WORK/probe.jsonl"
        "$ROTOR" probe -q --registry "$WORK/registry.yaml" --base-url "$SIM_URL" \
            --models "$MODEL" --prompts "$PROMPT" --repeat "$n" --concurrency "$c" \
            --no-stream --no-validate --json --out "$WORK/probe.jsonl" >"$WORK/probe.json" 2>/dev/null
        ok=$(jq '.models[0].ok' "$WORK/probe.json")
        [[ $ok == "$n" ]] || { echo "rotor: only $ok of $n were ok" >&2; exit 1; }
        jq '.attempts / .elapsed_s' "$WORK/probe.json" >>"$WORK/rotor.$c"
    done
    o=$(median <"$WORK/oha.$c"); t=$(median <"$WORK/rotor.$c"); f=$(median <"$WORK/floor.$c")
    printf '| %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n' "$c" "$n" "$o" "$f" "$t" \
        "$(echo "$t / $o" | bc -l)" "$(echo "$f / $o" | bc -l)" "$(echo "$t / $f" | bc -l)"
    echo "  oha rounds: $(paste -sd' ' "$WORK/oha.$c")  floor rounds: $(paste -sd' ' "$WORK/floor.$c")  rotor rounds: $(paste -sd' ' "$WORK/rotor.$c")"
done
