#!/usr/bin/env bash
# CPU per request of each client (oha, the reqwest floor, rotor) and of the
# simulator serving it, at concurrency 1, 8 and 64: what bounds each
# client's rate when client and simulator share the machine's cores.
#
#   bench/budget.sh              # ROUNDS=3 N1=20000 N=40000
#
# Client CPU: user + sys of the whole process (/usr/bin/time). Simulator
# CPU: its utime + stime from /proc/<pid>/stat before and after. Rate: the
# requests over the client process's wall time (start-up included, for all
# three). Prints one line per client and round.
source "$(dirname "$0")/lib.sh"
need oha python3 curl
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (apt-get install time)" >&2; exit 3; }
build
build_floor
ROUNDS=${ROUNDS:-3}
N1=${N1:-20000}
N=${N:-40000}
MODEL=bench/a
registry "$WORK/registry.yaml" "$MODEL"

# The exact body rotor sends.
capture_body "$WORK/registry.yaml" "$MODEL" parse-duration

start_sim bench/scenarios/zero.yaml
echo "$(machine)"
ticks() { awk '{print $14 + $15}' "/proc/$SIM_PID/stat"; }
hz=$(getconf CLK_TCK)

measure() { # NAME N CMD...
    local name=$1 n=$2; shift 2
    curl -s -X POST "$SIM_ROOT/sim/reset" >/dev/null
    local a b s e
    a=$(ticks); s=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$WORK/cpu.txt" "$@" >/dev/null 2>&1
    e=$(date +%s.%N); b=$(ticks)
    awk -v name="$name" -v c="$c" -v n="$n" -v wall="$(echo "$e - $s" | bc -l)" \
        -v sim="$(echo "($b - $a) / $hz" | bc -l)" \
        '{printf "| %s | %s | %.0f | %.1f | %.1f |\n", c, name, n / wall, ($1 + $2) * 1e6 / n, sim * 1e6 / n}' \
        "$WORK/cpu.txt"
}

echo "| concurrency | client | req/s | client CPU µs/req | simulator CPU µs/req |"
echo "|---:|---|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
    for c in 1 8 64; do
        n=$N; [[ $c == 1 ]] && n=$N1
        measure oha "$n" oha -n "$n" -c "$c" -m POST -H 'content-type: application/json' \
            -D "$WORK/body.json" --no-tui "$SIM_URL/chat/completions"
        measure "reqwest floor" "$n" "$FLOOR" "$SIM_URL/chat/completions" "$WORK/body.json" "$n" "$c"
        measure rotor "$n" "$ROTOR" probe -q --registry "$WORK/registry.yaml" --base-url "$SIM_URL" \
            --models "$MODEL" --prompts parse-duration --repeat "$n" --concurrency "$c" \
            --no-stream --no-validate --out "$WORK/probe.jsonl"
        rm -f "$WORK/probe.jsonl"
    done
done
