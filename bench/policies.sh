#!/usr/bin/env bash
# Rotation policies side by side: `rotor rotate-test --json` on the storm,
# account-limit and outage CI scenarios (fixtures/scenarios/ci-*.yaml) for
# each policy and fixed seeds, printing a Markdown table: completion time
# against the lower bound (prompts ÷ the account's allowed rate), success
# rate, 429s received and p95 time to answer.
#
# The account-limit scenario runs twice: with the limit known (the group is
# named like the registry's provider, so rotor paces at it) and unknown (the
# group renamed: rotor must learn it from the 429s' X-RateLimit-Limit).
#
# Usage: bench/policies.sh            (release build; SEEDS, REPEAT,
#        PROFILE=debug bench/policies.sh  CONCURRENCY override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
SEEDS=${SEEDS:-"1 2 3 4 5"}
REPEAT=${REPEAT:-4}
CONCURRENCY=${CONCURRENCY:-4}
CHAIN="meta-llama/llama-3.3-8b-instruct:free,cognitivecomputations/dolphin-mistral-24b-venice-edition:free,cognitivecomputations/dolphin3.0-mistral-24b:free"

command -v jq >/dev/null || { echo "bench/policies.sh needs jq" >&2; exit 3; }
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet
  BIN=target/release/rotor
else
  cargo build --quiet
  BIN=target/debug/rotor
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/name: openrouter/name: account/' fixtures/scenarios/ci-account-limit.yaml \
  > "$tmp/ci-account-limit-unknown.yaml"

# label|--sim argument
scenarios=(
  "storm|ci-storm"
  "account-limit (known)|ci-account-limit"
  "account-limit (learned)|$tmp/ci-account-limit-unknown.yaml"
  "outage|ci-outage"
)

for entry in "${scenarios[@]}"; do
  label=${entry%%|*}
  sim=${entry#*|}
  for policy in adaptive fallback-first wait-first; do
    for seed in $SEEDS; do
      "$BIN" -q --registry registry.yaml rotate-test --sim "$sim" --policy "$policy" \
        --seed "$seed" --repeat "$REPEAT" --concurrency "$CONCURRENCY" --chain "$CHAIN" \
        --no-validate --min-success-rate 0 --json --out "$tmp/results.jsonl" \
        | jq -c --arg name "$label" --arg policy "$policy" --arg seed "$seed" '{
            "scenario": $name, "policy": $policy, "seed": $seed,
            elapsed: .elapsed_s,
            bound: .simulator.lower_bound_s,
            success: .overall.success_rate,
            r429: .overall.rate_limited,
            p95: .overall.latency_ms.p95,
            primary: .overall.primary_share }' >> "$tmp/rows.jsonl"
    done
  done
done

echo "| scenario | policy | completion s | lower bound s | × bound | success | 429s received | p95 ms | primary share |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
jq -rs '
  def mean(f): (map(f) | add) / length;
  def r(n): (. * pow(10; n) | round) / pow(10; n);
  group_by(.scenario) as $by_scenario
  | [ "storm", "account-limit (known)", "account-limit (learned)", "outage" ][] as $s
  | $by_scenario[] | select(.[0].scenario == $s)
  | group_by(.policy)
  | sort_by({"adaptive": 0, "fallback-first": 1, "wait-first": 2}[.[0].policy])[]
  | "| \(.[0].scenario) | \(.[0].policy) | \(mean(.elapsed) | r(2)) | \(.[0].bound | r(2)) | \((mean(.elapsed) / .[0].bound) | r(2)) | \(mean(.success) * 100 | r(1))% | \(mean(.r429) | r(1)) | \(mean(.p95) | r(0)) | \(mean(.primary) * 100 | r(0))% |"
' "$tmp/rows.jsonl"
echo
echo "Means over seeds $SEEDS; $((14 * REPEAT)) prompts per run at concurrency $CONCURRENCY; profile $PROFILE."
