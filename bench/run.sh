#!/usr/bin/env bash
# Benchmarks: runbook against a bare bash loop and ansible-playbook (installed from PyPI into
# bench/.venv on first use). Writes docs/performance.md. Options: --quick, --no-ansible.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p runbook
exec python3 bench/bench.py "$@"
