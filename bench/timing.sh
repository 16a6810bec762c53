#!/usr/bin/env bash
# Timing accuracy: rotor's TTFT and end-to-end latency against the
# simulator's ground truth (GET /sim/log) over 1,000 requests with known
# delays (bench/scenarios/timing.yaml: TTFT 10-40 ms, 32 tokens at 1000/s), at
# concurrency 1 and 64, streaming and not. Prints the median and p99 of the
# absolute error (ms) and of queue_ms. Each case runs twice: as rotor runs by
# default (connections opened before the first prompt), and with
# --no-warmup, over all requests and without those that opened their
# connection (`conn_request` = 1 in /sim/log: their TCP handshake is in
# rotor's clock and not in the simulator's).
#
#   bench/timing.sh            # REQUESTS=1000 by default
#   NICE=-10 bench/timing.sh   # both processes at a higher priority than the
#                              # machine's other work (a shared machine)
source "$(dirname "$0")/lib.sh"
need jq python3 curl
build
REQUESTS=${REQUESTS:-1000}
PROMPT=${PROMPT:-parse-duration}
MODEL=bench/timed
registry "$WORK/registry.yaml" "$MODEL"
NICE=${NICE:-0}
if [[ $NICE != 0 ]]; then ROTOR_RUN=(nice -n "$NICE" "$ROTOR"); else ROTOR_RUN=("$ROTOR"); fi
[[ $NICE != 0 ]] && SIM_WRAP="nice -n $NICE"
start_sim bench/scenarios/timing.yaml
machine
echo "| run | n | TTFT abs. error median / p99 (ms) | latency abs. error median / p99 (ms) | queue_ms median / p99 |"
echo "|---|---|---|---|---|"
for mode in stream no-stream; do
    for c in 1 64; do
        for warm in "" --no-warmup; do
            curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
            rm -f "$WORK/t.jsonl"
            # shellcheck disable=SC2086
            "${ROTOR_RUN[@]}" probe -q --registry "$WORK/registry.yaml" --base-url "$SIM_URL" \
                --models "$MODEL" --prompts "$PROMPT" --repeat "$REQUESTS" --concurrency "$c" \
                "--$mode" $warm --no-validate --json --out "$WORK/t.jsonl" >"$WORK/t.json" 2>/dev/null
            curl -s "$SIM_ROOT/sim/log" >"$WORK/log.json"
            opened=$(jq -r '"\(.connections.opened_before_first_prompt) / \(.connections.opened_during_run)"' "$WORK/t.json")
            label="--$mode${warm:+ $warm}, concurrency $c (connections opened before / during the run: $opened)"
            python3 bench/timing_errors.py "$WORK/t.jsonl" "$WORK/log.json" "$label, all"
            if [[ -n $warm ]]; then
                python3 bench/timing_errors.py "$WORK/t.jsonl" "$WORK/log.json" "$label, without the first request of each connection" --skip-openers
            fi
        done
    done
done
