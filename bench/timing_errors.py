#!/usr/bin/env python3
"""Compares rotor's ttft_ms and latency_ms with the simulator's ground truth.

Usage: timing_errors.py RESULTS.jsonl SIM_LOG.json LABEL [--skip-openers]

Joins each attempt record with the /sim/log entry of the same response_id.
The simulator's figures run from when it had parsed the request
(received_us) to when it handed the first content (first_content_us) or the
last byte (last_byte_us) to the connection. rotor's run from `sent` (before
the request is written) to when it read them, so the difference also holds
the loopback transit both ways: it is an upper bound of rotor's error.
Prints one Markdown table row: label, n, median and p99 of |error| for TTFT
and latency, and median / p99 of queue_ms. With --skip-openers, the
requests that opened their connection (`conn_request` = 1 in the log) are
left out: their TCP handshake is in rotor's figures (its `sent` is before
the connect) and not in the simulator's. (With rotor's warm-up, the
default, no request of the run opens a connection: the row of all requests
is the one to read.)
"""
import json
import sys


def pct(values, p):
    """Type 7 (linear interpolation between closest ranks), like src/stats.rs."""
    v = sorted(values)
    if not v:
        return float("nan")
    h = (len(v) - 1) * p / 100.0
    lo = int(h)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (h - lo) * (v[hi] - v[lo])


records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
attempts = [r for r in records if r.get("kind") == "attempt"]
log = json.load(open(sys.argv[2]))
entries = log if isinstance(log, list) else log.get("entries", [])
skip = "--skip-openers" in sys.argv[4:]
by_id = {
    e["response_id"]: e
    for e in entries
    if e.get("response_id") and not (skip and e.get("conn_request") == 1)
}

ttft_err, lat_err, queue, signed = [], [], [], []
missing = 0
for a in attempts:
    e = by_id.get(a.get("response_id"))
    if a.get("outcome") != "ok" or e is None:
        missing += 1 if a.get("outcome") != "ok" or not skip else 0
        continue
    sim_lat = (e["last_byte_us"] - e["received_us"]) / 1000.0
    lat_err.append(abs(a["latency_ms"] - sim_lat))
    signed.append(a["latency_ms"] - sim_lat)
    if a.get("stream") and a.get("ttft_ms") is not None and e.get("first_content_us") is not None:
        sim_ttft = (e["first_content_us"] - e["received_us"]) / 1000.0
        ttft_err.append(abs(a["ttft_ms"] - sim_ttft))
    if a.get("queue_ms") is not None:
        queue.append(a["queue_ms"])

if missing:
    print(f"warning: {missing} attempts not ok or not in the simulator's log", file=sys.stderr)
if min(signed, default=0) < -0.05:
    print(f"warning: rotor's latency below the simulator's by {-min(signed):.3f} ms", file=sys.stderr)


def cell(v):
    return "–" if not v else f"{pct(v, 50):.3f} / {pct(v, 99):.3f}"


print(f"| {sys.argv[3]} | {len(lat_err)} | {cell(ttft_err)} | {cell(lat_err)} | {cell(queue)} |")
