#!/usr/bin/env bash
# The test command of README.md: installs what the tests need, then runs formatting, lints and
# every test. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
# tests/it/report.rs renders the HTML report in headless Chromium (and skips without it).
command -v chromium >/dev/null || need_apt+=(chromium)
# tests/it/ssh.rs starts a real sshd on loopback.
[[ -x /usr/sbin/sshd ]] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
# The demo (tests/it/demo.rs, and the main job) runs real PostgreSQL and Redis servers.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})) && command -v apt-get >/dev/null; then
  echo "==> installing ${need_apt[*]}"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# The unprivileged user the ssh tests log in as (root's shell start-up is slow here).
if [[ $(id -u) == 0 ]] && ! id runbook-ssh >/dev/null 2>&1; then
  useradd -m -s /bin/bash runbook-ssh && usermod -p '*' runbook-ssh
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> unused dependencies (cargo machete)"
command -v cargo-machete >/dev/null || cargo install cargo-machete --locked --quiet
# --with-metadata reads cargo's resolved names, which finds more than a text search (a
# dev-dependency no test uses, a workspace dependency nothing imports).
cargo machete --with-metadata
echo "==> docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "==> cargo test"
if command -v cargo-nextest >/dev/null; then
  # nextest does not run doctests: run them first, so the suite's summary comes last.
  cargo test --workspace --locked --doc --quiet
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

