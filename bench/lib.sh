# Shared helpers of the bench/ scripts (sourced, not run).
# Every script runs from the repository root against the release binary
# (ROTOR=target/release/rotor unless set) and prints Markdown-ready lines.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROTOR=${ROTOR:-target/release/rotor}
WORK=${WORK:-$(mktemp -d /tmp/rotor-bench.XXXXXX)}
SIM_PID=""

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 3; }
    done
}

# build_floor: builds the reqwest floor (examples/reqwest_floor.rs) unless
# NO_BUILD is set; sets FLOOR to it (or keeps FLOOR when set).
build_floor() {
    FLOOR=${FLOOR:-target/release/examples/reqwest_floor}
    [[ -n "${NO_BUILD:-}" ]] || cargo build --release --quiet --example reqwest_floor
}

build() {
    if [[ -z "${NO_BUILD:-}" ]]; then
        cargo build --release --quiet
    fi
    [[ -x "$ROTOR" ]] || { echo "no $ROTOR" >&2; exit 3; }
}

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ); rotor $(git rev-parse --short HEAD)"
}

# start_sim SCENARIO: runs `rotor sim` in the background (under $SIM_WRAP,
# e.g. "nice -n -10", when set); sets SIM_URL (…/v1), SIM_ROOT and SIM_PID.
start_sim() {
    local fifo="$WORK/sim.out"
    # shellcheck disable=SC2086
    ${SIM_WRAP:-} "$ROTOR" sim --scenario "$1" --addr 127.0.0.1:0 >"$fifo" 2>"$WORK/sim.err" &
    SIM_PID=$!
    for _ in $(seq 1 100); do
        [[ -s "$fifo" ]] && break
        sleep 0.05
    done
    SIM_URL=$(head -n1 "$fifo")
    SIM_ROOT=${SIM_URL%/v1}
    [[ "$SIM_URL" == http://127.0.0.1:* ]] || { echo "sim did not start" >&2; cat "$WORK/sim.err" >&2; exit 3; }
}

stop_sim() {
    if [[ -n "$SIM_PID" ]]; then
        kill "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
        SIM_PID=""
    fi
}
trap stop_sim EXIT

# registry FILE MODEL...: a registry with one local provider, fast rotation
# settings (no waits worth speaking of) and the given models.
registry() {
    local file=$1; shift
    {
        echo "version: 1"
        echo "providers:"
        echo "  local: {kind: openai-compatible, base_url: \"http://127.0.0.1:9/v1\"}"
        echo "tiers:"
        echo "  - {name: tier1, label: fast, max_p50_ms: 2000}"
        echo "rotation:"
        echo "  policy: adaptive"
        echo "  deadline_s: 60"
        echo "  backoff: {base_s: 0.01, cap_s: 0.05, factor: 2, max_retries: 3}"
        echo "  breaker: {failures: 50, cooldown_s: 0.2}"
        echo "models:"
        for m in "$@"; do
            echo "  - {id: \"$m\", provider: local, status: verified, tier: tier1}"
        done
    } >"$file"
}

# peak_rss_mb FILE: "Maximum resident set size" of a /usr/bin/time -v log, in MB.
peak_rss_mb() {
    awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"
}

# wall_s FILE: "Elapsed (wall clock) time" of a /usr/bin/time -v log, in seconds.
wall_s() {
    awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.2f", s}' "$1"
}

# capture_body REGISTRY MODEL PROMPT: writes the exact request body rotor
# sends for PROMPT (non-streaming) to $WORK/body.json, for oha and the floor.
capture_body() {
    python3 bench/capture_body.py "$WORK/body.json" >"$WORK/capture.url" &
    local cap=$!
    for _ in $(seq 1 100); do [[ -s "$WORK/capture.url" ]] && break; sleep 0.05; done
    "$ROTOR" probe -q --registry "$1" --base-url "$(cat "$WORK/capture.url")" \
        --models "$2" --prompts "$3" --no-stream --no-validate --out "$WORK/capture.jsonl" \
        >/dev/null 2>&1 || true
    wait "$cap" || true
    [[ -s "$WORK/body.json" ]] || { echo "could not capture rotor's request body" >&2; exit 3; }
}
