#!/usr/bin/env bash
# Runs the side-by-side comparison of minibroker and NATS JetStream (see
# main.go) and prints the markdown table; progress goes to stderr.
# Arguments go to the program, e.g.: bash tests/peers/run.sh -duration 5s -rounds 3
set -euo pipefail
cd "$(dirname "$0")"
exec go run . "$@"
