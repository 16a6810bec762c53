#!/usr/bin/env bash
# Timing accuracy: rotor's TTFT and end-to-end latency against the
# simulator's ground truth (GET /sim/log) over 1,000 requests with known
# delays (bench/scenarios/timing.yaml: TTFT 10-40 ms, 32 tokens at 1000/s), at
# concurrency 1 and 64, streaming and not. Prints the median and p99 of the
# absolute error (ms) and of queue_ms, over all requests and over those on
# reused connections (the first request of each connection also holds the
# TCP handshake, which rotor's clock includes and the simulator's cannot see).
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
        curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
        before=$(curl -s "$SIM_ROOT/sim/stats" | jq .connections)
        rm -f "$WORK/t.jsonl"
        "${ROTOR_RUN[@]}" probe -q --registry "$WORK/registry.yaml" --base-url "$SIM_URL" \
            --models "$MODEL" --prompts "$PROMPT" --repeat "$REQUESTS" --concurrency "$c" \
            "--$mode" --no-validate --json --out "$WORK/t.jsonl" >/dev/null 2>&1
        curl -s "$SIM_ROOT/sim/log" >"$WORK/log.json"
        # Opened by the run: less the pre-flight check's and this request's own.
        conns=$(( $(curl -s "$SIM_ROOT/sim/stats" | jq .connections) - before - 2 ))
        python3 bench/timing_errors.py "$WORK/t.jsonl" "$WORK/log.json" "--$mode, concurrency $c, all"
        python3 bench/timing_errors.py "$WORK/t.jsonl" "$WORK/log.json" "--$mode, concurrency $c, reused connections ($conns opened)" "$conns"
    done
done
