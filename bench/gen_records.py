#!/usr/bin/env python3
"""Writes N synthetic result records (JSON Lines) for `rotor report` benchmarks.

Usage: gen_records.py N OUT.jsonl [MODELS]

Attempt records shaped like rotor probe's (every field present), spread over
MODELS model ids of the repository's registry (default 12) and 30 days, with
realistic outcomes (about 8 % rate-limited, 3 % other errors), plus one
engine event (wait or fallback) for every 20 attempts. Deterministic (seeded).
"""
import json
import random
import sys
from datetime import datetime, timedelta, timezone

n = int(sys.argv[1])
out = sys.argv[2]
n_models = int(sys.argv[3]) if len(sys.argv) > 3 else 12

MODELS = [
    "meta-llama/llama-3.3-8b-instruct:free",
    "cognitivecomputations/dolphin-mistral-24b-venice-edition:free",
    "cognitivecomputations/dolphin3.0-mistral-24b:free",
    "meta-llama/llama-4-maverick:free",
    "qwen/qwen3-coder:free",
    "deepseek/deepseek-chat-v3.1:free",
    "google/gemma-3-27b-it:free",
    "mistralai/mistral-small-3.2-24b-instruct:free",
    "z-ai/glm-4.5-air:free",
    "moonshotai/kimi-k2:free",
    "openai/gpt-oss-20b:free",
    "nvidia/nemotron-nano-9b-v2:free",
]
while len(MODELS) < n_models:
    MODELS.append(f"synthetic/model-{len(MODELS)}:free")
MODELS = MODELS[:n_models]
PROMPTS = ["parse-duration", "free-slots", "count-weekdays", "grid-shortest-path", "count-change-ways"]
rng = random.Random(42)
start = datetime(2026, 10, 1, tzinfo=timezone.utc)
span = 30 * 86400

with open(out, "w") as f:
    for i in range(n):
        m = i % len(MODELS)
        ts = start + timedelta(seconds=span * i / n)
        r = rng.random()
        outcome = "ok" if r > 0.11 else ("rate_limited" if r < 0.08 else rng.choice(["server_error", "timeout", "overloaded"]))
        ok = outcome == "ok"
        base = 500 + 250 * m
        lat = rng.lognormvariate(0, 0.4) * base
        ttft = lat * rng.uniform(0.15, 0.4) if ok else None
        out_tok = rng.randint(60, 400) if ok else None
        rec = {
            "schema_version": 1, "kind": "attempt", "run_id": f"run{i // 5000:05d}",
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "command": "probe",
            "provider": "openrouter", "model": MODELS[m], "prompt_id": PROMPTS[i % len(PROMPTS)],
            "repeat": i // (len(MODELS) * len(PROMPTS)), "attempt": 1, "outcome": outcome,
            "http_status": 200 if ok else (429 if outcome == "rate_limited" else 503),
            "error_type": None if ok else ("rate_limit_exceeded" if outcome == "rate_limited" else "server"),
            "error_message": None if ok else "HTTP 429: Rate limit exceeded: free-models-per-min.",
            "rate_limit_scope": "account_minute" if outcome == "rate_limited" else None,
            "retry_after_ms": 12000 if outcome == "rate_limited" else None,
            "ratelimit_limit": 20 if outcome == "rate_limited" else None,
            "ratelimit_remaining": 0 if outcome == "rate_limited" else None,
            "ratelimit_reset_ms": None, "queue_ms": 0.012,
            "ttfb_ms": round(ttft * 0.9, 3) if ok else round(lat, 3),
            "ttft_ms": round(ttft, 3) if ok else None, "first_reasoning_ms": None,
            "latency_ms": round(lat, 3), "input_tokens": 180 if ok else None,
            "output_tokens": out_tok, "tokens_source": "usage" if ok else "none",
            "tokens_per_s": round(out_tok / (lat - ttft) * 1000, 2) if ok else None,
            "stream": True, "response_id": f"gen-{i}" if ok else None, "content_started": ok,
            "validation": rng.choice(["passed", "passed", "passed", "failed"]) if ok else None,
            "validation_detail": None, "validation_ms": 35.2 if ok else None,
            "validation_isolation": "netns+uid+rlimits" if ok else None,
        }
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        if i % 20 == 19:
            ev = {"schema_version": 1, "kind": "event", "run_id": rec["run_id"], "ts": rec["ts"],
                  "command": "rotate-test", "event": "fallback", "model": MODELS[m],
                  "prompt_id": rec["prompt_id"], "repeat": rec["repeat"],
                  "from": MODELS[m], "to": MODELS[(m + 1) % len(MODELS)], "reason": "rate_limited",
                  "at_ms": 10.5, "epoch_ms": 1790000000000}
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
