#!/usr/bin/env bash
# Regenerates every JSON Schema under schemas/ from the code (`runbook schema NAME`); the tests
# fail when a checked-in schema is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in playbook inventory transcript plan plan-diff run report check; do
  cargo run -q -- schema "$name" > "schemas/$name.v1.json"
done
