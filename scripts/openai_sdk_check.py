#!/usr/bin/env python3
"""Checks that the official OpenAI Python SDK works against rotor's simulator.

Usage: openai_sdk_check.py BASE_URL [PLAIN_MODEL] [LIMITED_MODEL]

Start the simulator with the sdk-check scenario first, e.g.
    rotor sim --scenario sdk-check
and pass the URL it prints (".../v1"). Checks, with `OpenAI(base_url=..., api_key="sk-test")`:
  1. models.list() returns the scenario's models;
  2. a chat completion (non-stream) with content, finish_reason and usage;
  3. a streamed completion with stream_options={"include_usage": True}: content deltas,
     finish_reason "stop", and a final usage chunk with no choices;
  4. a completion whose first attempt gets a 429 (per-model bucket) and succeeds on the
     SDK's own retry, which waits the server's retry-after-ms.
Exits 0 when every check passes, 1 otherwise.
"""

import json
import os
import sys
import time
import urllib.request

from openai import OpenAI

MESSAGES = [{"role": "user", "content": "Say something short."}]


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    base_url = sys.argv[1].rstrip("/")
    plain = sys.argv[2] if len(sys.argv) > 2 else "sim/plain"
    limited = sys.argv[3] if len(sys.argv) > 3 else "sim/limited"

    # Loopback must not go through a proxy from the environment.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    log_url = base_url.rsplit("/v1", 1)[0] + "/sim/log"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def sim_log() -> list:
        with opener.open(log_url, timeout=10) as response:
            return json.load(response)

    client = OpenAI(base_url=base_url, api_key="sk-test", max_retries=2)
    failures = 0

    def check(name: str, ok: bool, detail: str = "") -> None:
        nonlocal failures
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        if not ok:
            failures += 1

    ids = [m.id for m in client.models.list().data]
    check("models.list", plain in ids and limited in ids, ", ".join(ids))

    r = client.chat.completions.create(model=plain, messages=MESSAGES)
    content = r.choices[0].message.content or ""
    check(
        "chat.completions.create",
        r.object == "chat.completion"
        and bool(content)
        and r.choices[0].finish_reason == "stop"
        and r.usage is not None
        and r.usage.completion_tokens > 0,
        f"{len(content)} chars, usage {r.usage}",
    )

    stream = client.chat.completions.create(
        model=plain,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
            check("usage chunk has no choices", chunk.choices == [])
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    check(
        "streamed completion with include_usage",
        bool(text) and finish == "stop" and usage is not None and usage.completion_tokens > 0,
        f"{chunks} chunks, {len(''.join(text))} chars, finish {finish}, usage {usage}",
    )

    # Empty the limited model's bucket without retries, then ask again: the second
    # request gets a 429 and the SDK retries after the server's retry-after-ms.
    quick = client.with_options(max_retries=0)
    try:
        quick.chat.completions.create(model=limited, messages=MESSAGES)
    except Exception:  # the bucket may already be empty; that is fine too
        pass
    seen = len(sim_log())
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model=limited, messages=MESSAGES)
    elapsed = time.monotonic() - started
    completion = raw.parse()
    # What the server answered to the SDK's attempts, from its own log.
    statuses = [e["status"] for e in sim_log()[seen:] if e["model"] == limited]
    check(
        "429 then success on the SDK's own retry",
        statuses[:1] == [429] and statuses[-1] == 200 and bool(completion.choices[0].message.content),
        f"server sent {statuses}, SDK retries {raw.retries_taken}, {elapsed * 1000:.0f} ms",
    )

    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
