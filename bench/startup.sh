#!/usr/bin/env bash
# Startup: wall time of `rotor --help`, with `true` (the cost of starting any
# process) and `oha --help` (another Rust CLI on tokio, clap and rustls)
# measured in the same hyperfine run.
#
#   bench/startup.sh
source "$(dirname "$0")/lib.sh"
need hyperfine
build
machine
cmds=("$ROTOR --help" "true")
command -v oha >/dev/null && cmds+=("oha --help")
hyperfine -N --warmup 20 --runs "${RUNS:-300}" --export-markdown "$WORK/startup.md" "${cmds[@]}" >/dev/null
cat "$WORK/startup.md"
