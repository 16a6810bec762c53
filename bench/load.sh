#!/usr/bin/env bash
# Load correctness: 10,000 prompts at concurrency 256 through `rotor probe`
# (each prompt goes through the rotation engine, a chain of one) against
# `rotor sim --scenario bench/scenarios/load.yaml` (short delays, a few
# faults of several kinds). Checks that the attempt records equal what the
# simulator says it answered (/sim/stats), per model and outcome, and reports
# the time, the peak memory and the connections the simulator accepted.
# `rotor rotate-test` is run the same way when the binary has it.
#
#   bench/load.sh          # REPEAT=5000 (x 2 models = 10,000 prompts)
source "$(dirname "$0")/lib.sh"
need jq curl
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time" >&2; exit 3; }
build
REPEAT=${REPEAT:-5000}
C=${CONCURRENCY:-256}
PROMPT=${PROMPT:-parse-duration}
MODELS=load/a,load/b
machine

registry "$WORK/registry.yaml" load/a load/b
# A deadline no prompt needs, so that no deadline fires after the simulator
# answered (which would make the counts differ for the wrong reason).
sed -i 's/deadline_s: 60/deadline_s: 300/' "$WORK/registry.yaml"

# compare RESULTS.jsonl: per-model, per-outcome attempt counts vs /sim/stats.
compare() {
    curl -s "$SIM_ROOT/sim/stats" >"$WORK/stats.json"
    jq -s '[.[] | select(.kind == "attempt")] | group_by(.model)
           | map({key: .[0].model, value: (group_by(.outcome) | map({key: .[0].outcome, value: length}) | from_entries)})
           | from_entries' "$1" >"$WORK/mine.json"
    jq '.models | with_entries(select(.key | startswith("load/"))) | map_values(.by_outcome)' \
        "$WORK/stats.json" >"$WORK/truth.json"
    if diff <(jq -S . "$WORK/mine.json") <(jq -S . "$WORK/truth.json") >/dev/null; then
        echo "records = /sim/stats: yes ($(jq '.requests' "$WORK/stats.json") attempts; by outcome $(jq -c '.by_outcome' "$WORK/stats.json"))"
    else
        echo "records = /sim/stats: NO"; diff <(jq -S . "$WORK/mine.json") <(jq -S . "$WORK/truth.json") || true
        return 1
    fi
}

run_one() {
    local name=$1 repeat=$2; shift 2
    start_sim bench/scenarios/load.yaml
    rm -f "$WORK/$name.jsonl"
    /usr/bin/time -v -o "$WORK/time.txt" "$ROTOR" "$name" -q --registry "$WORK/registry.yaml" \
        --base-url "$SIM_URL" "$@" --prompts "$PROMPT" --repeat "$repeat" --concurrency "$C" \
        --no-validate --json --out "$WORK/$name.jsonl" >"$WORK/$name.json" 2>"$WORK/$name.err" || true
    local prompts gave_up
    prompts=$(grep -c '"event":"request"' "$WORK/$name.jsonl" || true)
    gave_up=$(grep -c '"event":"give_up"' "$WORK/$name.jsonl" || true)
    echo "rotor $name: $prompts prompts ended ($gave_up gave up), wall $(wall_s "$WORK/time.txt") s, peak RSS $(peak_rss_mb "$WORK/time.txt") MB, connections accepted $(curl -s "$SIM_ROOT/sim/stats" | jq .connections)"
    compare "$WORK/$name.jsonl"
    stop_sim
}

# probe: each prompt to each of the two models (a chain of one each).
run_one probe "$REPEAT" --models "$MODELS"
# rotate-test: each prompt through the chain load/a -> load/b.
if "$ROTOR" rotate-test --help >/dev/null 2>&1; then
    run_one rotate-test $((REPEAT * 2)) --chain "$MODELS"
else
    echo "rotor rotate-test: not in this build (not yet on main); probe runs every prompt through the engine"
fi
