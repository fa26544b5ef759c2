# shellcheck shell=bash
# The demo environment's real data services, sourced by run.sh: a PostgreSQL cluster and a Redis
# server of their own, in $DEMO_STATE, on loopback ports, gone when the demo ends. Installed
# from Debian's packages when missing (as the test command does).
#
# demo_services_start   installs if needed, starts both, exports DATABASE_URL and REDIS_URL
# demo_services_stop    stops both (run.sh's cleanup)

demo_install() {
  command -v apt-get >/dev/null || { echo "error: $* missing and no apt-get to install it" >&2; return 1; }
  local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  echo "==> installing $*" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

demo_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $dir && -x $dir/initdb ]] && echo "$dir"
}

demo_free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

demo_services_start() {
  local need=()
  demo_pg_bin >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-cli >/dev/null || need+=(redis-tools)
  if ((${#need[@]})); then demo_install "${need[@]}"; fi

  # PostgreSQL will not run as root: the cluster then belongs to the `postgres` user.
  local pg_bin as=()
  pg_bin=$(demo_pg_bin)
  DEMO_PG_DIR=$DEMO_STATE/postgres
  mkdir -p "$DEMO_PG_DIR"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chmod 0711 "$DEMO_STATE"
    chown postgres "$DEMO_PG_DIR"
    as=(runuser -u postgres --)
  fi
  DEMO_PG_PORT=$(demo_free_port "${DEMO_PG_PORT:-15432}")
  echo "==> starting PostgreSQL on port $DEMO_PG_PORT" >&2
  "${as[@]}" "$pg_bin/initdb" -D "$DEMO_PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$pg_bin/pg_ctl" -D "$DEMO_PG_DIR/data" -l "$DEMO_PG_DIR/postgres.log" -w -s \
    -o "-p $DEMO_PG_PORT -k $DEMO_PG_DIR -c listen_addresses=127.0.0.1" start
  export DEMO_PG_BIN=$pg_bin DEMO_PG_DIR DEMO_PG_PORT
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$DEMO_PG_PORT/postgres"

  DEMO_REDIS_PORT=$(demo_free_port "${DEMO_REDIS_PORT:-16379}")
  echo "==> starting Redis on port $DEMO_REDIS_PORT" >&2
  redis-server --port "$DEMO_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$DEMO_STATE" --pidfile "$DEMO_STATE/redis.pid" \
    --logfile "$DEMO_STATE/redis.log"
  for _ in $(seq 50); do redis-cli -p "$DEMO_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export DEMO_REDIS_PORT REDIS_URL="redis://127.0.0.1:$DEMO_REDIS_PORT"
}

demo_services_stop() {
  if [[ -n ${DEMO_PG_DIR:-} && -f $DEMO_PG_DIR/data/postmaster.pid ]]; then
    local as=(); [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
    "${as[@]}" "$DEMO_PG_BIN/pg_ctl" -D "$DEMO_PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
  fi
  if [[ -n ${DEMO_REDIS_PORT:-} ]]; then
    redis-cli -p "$DEMO_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
}
