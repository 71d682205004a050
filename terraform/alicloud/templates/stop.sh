#!/bin/bash
# Stops and removes this host's registry containers (SIGTERM, then 15 s to drain).
set -euo pipefail
ids=$(docker ps -aq --filter label=registry.role)
if [ -n "$ids" ]; then
  # shellcheck disable=SC2086 # one id per word
  docker stop --time 15 $ids >/dev/null
  # shellcheck disable=SC2086
  docker rm $ids >/dev/null
fi
