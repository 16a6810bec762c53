#!/usr/bin/env bash
# Rotation policies side by side: `rotor rotate-test --json` on the storm,
# account-limit and outage CI scenarios and on two scenarios whose limit
# never binds (intermittent-storm, flaky-primary; fixtures/scenarios/ci-*.yaml)
# for each policy and fixed seeds, printing a Markdown table: completion time
# against the lower bound (the account's allowed rate: the last request
# cannot go before floor((N - 1) / L) minutes; "-" where the limit never
# binds and latency, not the rate, bounds the run), success rate, 429s
# received (and how many of them account-wide), p95 and p99 time to answer
# and the share of answers from the primary.
#
# The account-limit scenario runs twice: with the limit known (the group is
# named like the registry's provider, so rotor paces at it) and unknown (the
# group renamed: rotor must learn it from the first 429's X-RateLimit-Limit).
#
# Usage: bench/policies.sh                  release build
#        PROFILE=debug bench/policies.sh    debug build
#        SEEDS="1 2 3" CONCURRENCY=4        override the defaults
#        ONLY=outage bench/policies.sh      one scenario (its label)
#        ROWS=rows.jsonl bench/policies.sh  also keep one JSON row per run
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
SEEDS=${SEEDS:-"1 2 3 4 5 6"}
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
# The outage in the middle of a run with steady traffic (t = 10 s to 40 s of
# a run of about 84 s: the account allows 120 a minute, so the limiter spaces
# the requests evenly instead of sending them in bursts a minute apart), so
# the policies differ in how they leave the primary and come back to it.
sed 's/^  - from_s: 2$/  - from_s: 10/; s/^    to_s: 20$/    to_s: 40/; s/per_minute: 30/per_minute: 120/' \
  fixtures/scenarios/ci-outage.yaml > "$tmp/ci-outage-mid.yaml"

# label|--sim argument|repeats of the 14-prompt suite (the storm lasts 120
# scenario seconds: 168 prompts keep the run going through it and past it;
# the intermittent storms end at 160 s: 840 prompts last past them)
scenarios=(
  "storm|ci-storm|12"
  "account-limit (known)|ci-account-limit|4"
  "account-limit (learned)|$tmp/ci-account-limit-unknown.yaml|4"
  "outage|$tmp/ci-outage-mid.yaml|12"
  "intermittent-storm|ci-intermittent-storm|60"
  "flaky-primary|ci-flaky-primary|24"
)

for entry in "${scenarios[@]}"; do
  IFS='|' read -r label sim repeat <<<"$entry"
  if [ -n "${ONLY:-}" ] && [ "$label" != "$ONLY" ]; then continue; fi
  for policy in adaptive fallback-first wait-first; do
    for seed in $SEEDS; do
      "$BIN" -q --registry registry.yaml rotate-test --sim "$sim" --policy "$policy" \
        --seed "$seed" --repeat "$repeat" --concurrency "$CONCURRENCY" --chain "$CHAIN" \
        --no-validate --min-success-rate 0 --json --out "$tmp/results.jsonl" \
        | jq -c --arg name "$label" --arg policy "$policy" --arg seed "$seed" '{
            "scenario": $name, "policy": $policy, "seed": $seed,
            "prompts": .overall.prompts,
            "elapsed": .elapsed_s,
            "bound": .simulator.lower_bound_s,
            "success": .overall.success_rate,
            "r429": .overall.rate_limited,
            "account429": ((.overall.rate_limited_by_scope.account_minute // 0)
                           + (.overall.rate_limited_by_scope.account_day // 0)),
            "p95": .overall.latency_ms.p95,
            "p99": .overall.latency_ms.p99,
            "primary": .overall.primary_share }' >> "$tmp/rows.jsonl"
    done
  done
done

echo "| scenario | prompts | policy | completion s | lower bound s | × bound | success | 429s received (account-wide) | p95 ms | p99 ms | primary share |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -rs '
  def mean(f): (map(f) | add) / length;
  def r(n): (. * pow(10; n) | round) / pow(10; n);
  group_by(.scenario) as $by_scenario
  | [ "storm", "account-limit (known)", "account-limit (learned)", "outage",
      "intermittent-storm", "flaky-primary" ][] as $s
  | $by_scenario[] | select(.[0].scenario == $s)
  | group_by(.policy)
  | sort_by({"adaptive": 0, "fallback-first": 1, "wait-first": 2}[.[0].policy])[]
  | "| \(.[0].scenario) | \(.[0].prompts) | \(.[0].policy) | \(mean(.elapsed) | r(2)) | \(if (.[0].bound // 0) > 0 then (.[0].bound | r(2) | tostring) else "-" end) | \(if (.[0].bound // 0) > 0 then ((mean(.elapsed) / .[0].bound) | r(2) | tostring) else "-" end) | \(mean(.success) * 100 | r(1))% | \(mean(.r429) | r(1)) (\(mean(.account429) | r(1))) | \(mean(.p95) | r(0)) | \(mean(.p99) | r(0)) | \(mean(.primary) * 100 | r(0))% |"
' "$tmp/rows.jsonl"
if [ -n "${ROWS:-}" ]; then cp "$tmp/rows.jsonl" "$ROWS"; fi
echo
echo "Means over seeds $SEEDS at concurrency $CONCURRENCY; profile $PROFILE."
