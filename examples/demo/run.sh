#!/usr/bin/env bash
# The README's main job: the APEG P0 playbook, end to end, on the demo environment.
#
# Builds runbook and demo-service, starts the demo APEG service and crashes it, then runs
# playbooks/apeg/p0-service-down.yaml unattended against it: the playbook finds the service down,
# restarts it through the demo supervisor and verifies /health. Writes the transcript and its
# report (HTML and Markdown, next to it), cleans up, and prints the transcript's path last.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

# RUNBOOK_BIN and DEMO_SERVICE_BIN point at prebuilt binaries (the tests set them).
if [[ -z ${RUNBOOK_BIN:-} || -z ${DEMO_SERVICE_BIN:-} ]]; then
  echo "==> building runbook and demo-service" >&2
  cargo build --locked --quiet --bin runbook --bin demo-service
fi
runbook=${RUNBOOK_BIN:-$root/target/debug/runbook}
DEMO_SERVICE_BIN=${DEMO_SERVICE_BIN:-$root/target/debug/demo-service}
# Steps `cd` elsewhere: the supervisor needs the binary by an absolute path.
export DEMO_SERVICE_BIN; DEMO_SERVICE_BIN=$(realpath "$DEMO_SERVICE_BIN")

export DEMO_STATE; DEMO_STATE=$(mktemp -d "${TMPDIR:-/tmp}/runbook-demo.XXXXXX")
export DEMO_PORT=${DEMO_PORT:-18080}
export DEMO_UNIT=apeg.service
export PATH="$root/examples/demo/bin:$PATH"
# shellcheck source=examples/demo/services.sh
source "$root/examples/demo/services.sh"
cleanup() {
  systemctl stop apeg.service >/dev/null 2>&1 || true
  [[ -f $DEMO_STATE/api.pid ]] && kill "$(cat "$DEMO_STATE/api.pid")" 2>/dev/null
  demo_services_stop
  rm -rf "$DEMO_STATE"
}
trap cleanup EXIT

# The incident every playbook meets: the service dies at once (kill -9) and stays down.
crash_service() {
  kill -9 "$(cat "$DEMO_STATE/apeg.service.pid")"
  for _ in $(seq 50); do systemctl is-active apeg.service >/dev/null || break; sleep 0.1; done
}

if (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null; then
  echo "error: port $DEMO_PORT is in use; set DEMO_PORT to a free port" >&2
  exit 2
fi

# The data services the playbooks check for real: PostgreSQL and Redis of the demo's own.
demo_services_start
# A public API the GPT Agent checks (OpenAI's, in production): another demo-service, up.
DEMO_API_PORT=$(demo_free_port $((DEMO_PORT + 1)))
mkdir -p "$DEMO_STATE/api"
"$DEMO_SERVICE_BIN" --port "$DEMO_API_PORT" --state "$DEMO_STATE/api" >"$DEMO_STATE/api.log" 2>&1 &
echo $! >"$DEMO_STATE/api.pid"

echo "==> starting the demo APEG service on port $DEMO_PORT, then crashing it" >&2
systemctl start apeg.service
crash_service
systemctl status apeg.service >&2 || true

runs=${DEMO_RUNS:-$root/.runbook/runs}
mkdir -p "$runs"
transcript=$runs/$(date -u +%Y%m%dT%H%M%SZ)-demo-apeg-p0.jsonl
echo "==> runbook run --yes playbooks/apeg/p0-service-down.yaml" >&2
status=0
"$runbook" run --yes --manual skip \
  playbooks/apeg/p0-service-down.yaml \
  -i examples/demo/inventories/apeg-demo.yaml \
  --var base_url="http://127.0.0.1:$DEMO_PORT" --var app_port="$DEMO_PORT" \
  --transcript "$transcript" || status=$?

echo "==> the service after the run" >&2
systemctl is-active apeg.service >&2 || true
curl -fsS "http://127.0.0.1:$DEMO_PORT/health" >&2 && echo >&2 || true

# The report that starts the post-mortem, next to the transcript.
"$runbook" report "$transcript" --format html -o "${transcript%.jsonl}.html"
"$runbook" report "$transcript" --format markdown -o "${transcript%.jsonl}.md"
echo "==> report: ${transcript%.jsonl}.html (and .md)" >&2

if ((status != 0)); then
  echo "error: the P0 playbook did not restore the service (exit $status); transcript: $transcript" >&2
  exit "$status"
fi

# Another system's P0 runs against the same environment: the GPT Agent Platform outage.
echo "==> crashing the service again for playbooks/gpt-agent/p0-service-outage.yaml" >&2
crash_service
gpt_transcript=$runs/$(date -u +%Y%m%dT%H%M%SZ)-demo-gpt-agent-p0.jsonl
# The application's checkout: `npm run health:check` asks the service, as the seed's does.
cat >"$DEMO_STATE/package.json" <<JSON
{ "name": "gpt-agent-demo", "private": true,
  "scripts": { "health:check": "curl -fsS --max-time 5 http://127.0.0.1:$DEMO_PORT/api/health" } }
JSON
gpt_status=0
"$runbook" run --yes --manual skip \
  playbooks/gpt-agent/p0-service-outage.yaml \
  -i examples/demo/inventories/gpt-agent-demo.yaml \
  --var base_url="http://127.0.0.1:$DEMO_PORT" \
  --var openai_models_url="http://127.0.0.1:$DEMO_API_PORT/v1/models" \
  --var redis_url="$REDIS_URL" \
  --var app_dir="$DEMO_STATE" --var app_log="$DEMO_STATE/apeg.service.log" \
  --transcript "$gpt_transcript" || gpt_status=$?
"$runbook" report "$gpt_transcript" --format html -o "${gpt_transcript%.jsonl}.html"
if ((gpt_status != 0)) || ! curl -fsS "http://127.0.0.1:$DEMO_PORT/api/health" >/dev/null; then
  echo "error: the GPT Agent P0 playbook did not restore the service (exit $gpt_status); transcript: $gpt_transcript" >&2
  exit 1
fi
echo "==> GPT Agent P0 transcript: $gpt_transcript" >&2

# A third system's P0: the Agentic Platform API down. Its "docker-compose stack" is the demo's
# real processes (bin/docker-compose: no container engine runs here), its checkout a git repo.
echo "==> crashing the service again for playbooks/agentic-platform/p0-api-down.yaml" >&2
crash_service
agentic_dir=$DEMO_STATE/agentic
mkdir -p "$agentic_dir"
git -C "$agentic_dir" init -q
git -C "$agentic_dir" -c user.name=demo -c user.email=demo@example.com \
  commit -q --allow-empty -m "deploy api 1.4.2"
agentic_transcript=$runs/$(date -u +%Y%m%dT%H%M%SZ)-demo-agentic-p0.jsonl
agentic_status=0
"$runbook" run --yes --manual skip \
  playbooks/agentic-platform/p0-api-down.yaml \
  -i examples/demo/inventories/agentic-platform-demo.yaml \
  --var base_url="http://127.0.0.1:$DEMO_PORT" --var app_dir="$agentic_dir" \
  --transcript "$agentic_transcript" || agentic_status=$?
"$runbook" report "$agentic_transcript" --format html -o "${agentic_transcript%.jsonl}.html"
if ((agentic_status != 0)) || ! curl -fsS "http://127.0.0.1:$DEMO_PORT/health/ready" >/dev/null; then
  echo "error: the Agentic Platform P0 playbook did not restore the API (exit $agentic_status); transcript: $agentic_transcript" >&2
  exit 1
fi
echo "==> Agentic Platform P0 transcript: $agentic_transcript" >&2
echo "$transcript"
