//! Steps on other hosts, through the system `ssh`: the user's `~/.ssh/config`, agent,
//! `ProxyJump` and `known_hosts` work as they are configured. One multiplexed master connection
//! per host (a private control folder, `%C` paths), opened once and reused by every step.
//!
//! A remote step runs under a small fixed wrapper (`WRAPPER`) that reads the script (and the
//! step's environment) on stdin, starts it in a new session (so in its own process group),
//! and watches stdin: when the connection closes — the step was stopped locally, timed out,
//! or runbook died — it stops that whole group. No remote process outlives its step, and no
//! value is ever on a command line, remote or local.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runbook_model::Inventory;
use runbook_model::inventory::Connection;

/// How long a connection may take before the host counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The remote side: read the script up to a NUL, run it as its own process group, stop that
/// group when stdin closes. Fixed text: nothing of a playbook or a value is in it. (A
/// background job's stdin would be /dev/null: the watcher gets the real one explicitly.)
///
/// It costs a step as few processes as it can, since 50 hosts share the remote CPUs with
/// everything else: job control (`set -m`) gives the script's subshell a process group of its
/// own without a `setsid` binary, the watcher reads with the `read` builtin (no `cat`), and
/// once the script ended the watcher is stopped rather than left to its kill-and-wait.
const WRAPPER: &str = r#"IFS= read -r -d '' RUNBOOK_SCRIPT || exit 255
set -m
( set -o pipefail; eval "unset RUNBOOK_SCRIPT
$RUNBOOK_SCRIPT" ) </dev/null &
pid=$!
set +m
unset RUNBOOK_SCRIPT
exec 3<&0
( while IFS= read -r _; do :; done <&3; kill -TERM -- -$pid 2>/dev/null; sleep 2; kill -KILL -- -$pid 2>/dev/null ) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait $pid
rc=$?
kill $watcher 2>/dev/null
exit $rc"#;

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This machine.
    Local,
    /// A host of the inventory.
    Host(HostTarget),
}

/// One inventory host and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// The inventory's name for it (what the transcript and the operator see).
    pub name: String,
    /// `None` for `connection: local`.
    pub ssh: Option<SshHost>,
}

/// How to reach one inventory host over `ssh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// The inventory's name: part of the control socket's name, so two inventory hosts that
    /// share an address (aliases with their own options or host key alias) never share a
    /// connection.
    pub name: String,
    /// The hostname or IP address (the inventory's `address`, else the host's name).
    pub address: String,
    /// The login; ssh's own default when `None`.
    pub user: Option<String>,
    /// The port; ssh's own default when `None`.
    pub port: Option<u16>,
    /// The inventory's `ssh_options`, each passed as `-o NAME=VALUE`.
    pub options: Vec<String>,
}

/// The hosts a target names (a host or a group), or `None` when the inventory has no such
/// host or group. (`local` is this machine: the runner never asks for it.)
pub fn resolve(inventory: Option<&Inventory>, target: &str) -> Option<Vec<HostTarget>> {
    let inventory = inventory?;
    let names = inventory.resolve_target(target)?;
    Some(
        names
            .into_iter()
            .map(|name| {
                let host = inventory.hosts.get(&name);
                let ssh = match host {
                    Some(h) if h.connection == Connection::Local => None,
                    _ => Some(SshHost {
                        name: name.clone(),
                        address: host
                            .and_then(|h| h.address.clone())
                            .unwrap_or_else(|| name.clone()),
                        user: host.and_then(|h| h.user.clone()),
                        port: host.and_then(|h| h.port),
                        options: host.map(|h| h.ssh_options.clone()).unwrap_or_default(),
                    }),
                };
                HostTarget { name, ssh }
            })
            .collect(),
    )
}

/// The private folder of the control sockets: `$TMPDIR/runbook-ssh-<uid>`, mode 0700, refused
/// when it is not a real folder of ours.
#[allow(unsafe_code, reason = "getuid through libc")]
pub fn control_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("runbook-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a private folder of this user",
            dir.display()
        )));
    }
    Ok(dir)
}

/// The `ssh` arguments shared by the master and every step.
fn base_args(host: &SshHost, control: &Path) -> Vec<String> {
    let mut args = vec![
        "-T".to_owned(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()),
        "-o".into(),
        format!(
            "ControlPath={}/{}-%C",
            control.display(),
            socket_prefix(host)
        ),
    ];
    if let Some(user) = &host.user {
        args.extend(["-l".into(), user.clone()]);
    }
    if let Some(port) = host.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    for option in &host.options {
        args.extend(["-o".into(), option.clone()]);
    }
    args
}

/// The start of a host's control socket name: its name, short and file-name-safe, and a short
/// hash of how the inventory reaches it. So two inventories that both call a host `web-1`
/// (staging and production, run at the same time) never mistake each other's master for
/// their own; ssh's `%C` follows (a socket path must stay under 108 bytes).
fn socket_prefix(host: &SshHost) -> String {
    let definition = format!(
        "{}\0{}\0{}\0{}",
        host.address,
        host.user.as_deref().unwrap_or_default(),
        host.port.map(|p| p.to_string()).unwrap_or_default(),
        host.options.join("\0")
    );
    let hash = crate::runner::sha256_hex(definition.as_bytes());
    format!("{}-{}", socket_name(&host.name), &hash[..8])
}

/// A file-name-safe, short form of a host name (a socket path must stay under 108 bytes).
fn socket_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(24)
        .collect()
}

/// The command line that opens a host's master connection (and returns once it is up).
pub fn master_args(host: &SshHost, control: &Path) -> Vec<String> {
    let mut args = vec!["ssh".to_owned()];
    args.extend(base_args(host, control));
    args.extend([
        "-o".into(),
        "ControlMaster=yes".into(),
        "-o".into(),
        "ControlPersist=120s".into(),
        "-N".into(),
        "-f".into(),
        "--".into(),
        host.address.clone(),
    ]);
    args
}

/// The command line of one remote step: through the master, running the fixed wrapper.
pub fn step_args(host: &SshHost, control: &Path) -> Vec<String> {
    let mut args = vec!["ssh".to_owned()];
    args.extend(base_args(host, control));
    let wrapper = shlex::try_quote(WRAPPER)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_else(|_| WRAPPER.to_owned());
    args.extend([
        "-o".into(),
        "ControlMaster=no".into(),
        "--".into(),
        host.address.clone(),
        format!("exec bash --noprofile --norc -c {wrapper}"),
    ]);
    args
}

/// A local process for an `ssh` command line, in a process group of its own.
pub fn command(argv: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&argv[0]);
    command.args(&argv[1..]).process_group(0).kill_on_drop(true);
    command
}

/// What the wrapper reads on stdin: the step's environment as `export` lines, then the script,
/// then a NUL.
pub fn payload(script: &str, env: &[(String, String)]) -> Vec<u8> {
    let mut text = String::new();
    for (name, value) in env {
        let quoted = shlex::try_quote(value)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|_| "''".to_owned());
        text.push_str(&format!("export {name}={quoted}\n"));
    }
    text.push_str(script);
    let mut bytes = text.into_bytes();
    bytes.retain(|b| *b != 0);
    bytes.push(0);
    bytes
}

/// How long after a step went through a host's master that master is trusted to be up
/// without asking it: well under `ControlPersist` (120 s), which only counts from the moment
/// the master's last session closed.
const MASTER_FRESH: Duration = Duration::from_secs(60);

/// When each master (by control path) was last known to be up, in this process.
fn masters() -> &'static std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>> {
    static MASTERS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    > = std::sync::OnceLock::new();
    MASTERS.get_or_init(Default::default)
}

/// The command line that asks whether a host's master is up (`ssh -O check`: no network).
pub fn check_args(host: &SshHost, control: &Path) -> Vec<String> {
    let mut args = vec!["ssh".to_owned()];
    args.extend(base_args(host, control));
    args.extend([
        "-O".into(),
        "check".into(),
        "--".into(),
        host.address.clone(),
    ]);
    args
}

/// Makes sure a host's master connection is up, opening it when it is not; the error says
/// why the host is unreachable. A master opened by an earlier step (or an earlier run, within
/// `ControlPersist`) is reused: opening a second one would not multiplex (ssh refuses the taken
/// socket) and would leave a plain background connection behind for every step.
pub async fn connect(host: &SshHost, control: &Path) -> Result<(), String> {
    let key = format!("{}/{}", control.display(), host.name);
    let fresh = masters()
        .lock()
        .expect("masters lock")
        .get(&key)
        .is_some_and(|at| at.elapsed() < MASTER_FRESH);
    if fresh {
        return Ok(());
    }
    // The sockets of this host (its name and inventory definition) in our folder: one that
    // accepts a connection is a live master (asked without starting an `ssh`); one that
    // refuses is stale and goes (ssh would not bind over it). Should several live ones share
    // the prefix (~/.ssh/config now resolves the host differently), ssh says which is this
    // host's.
    let prefix = format!("{}-", socket_prefix(host));
    let mut live = 0;
    if let Ok(entries) = std::fs::read_dir(control) {
        use std::os::unix::fs::FileTypeExt;
        for entry in entries.flatten() {
            let ours = entry.file_name().to_string_lossy().starts_with(&prefix)
                && entry.file_type().is_ok_and(|t| t.is_socket());
            if !ours {
                continue;
            }
            if std::os::unix::net::UnixStream::connect(entry.path()).is_ok() {
                live += 1;
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let up = match live {
        0 => false,
        1 => true,
        _ => command(&check_args(host, control))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success()),
    };
    if !up {
        open_master(host, control).await?;
    }
    masters()
        .lock()
        .expect("masters lock")
        .insert(key, std::time::Instant::now());
    Ok(())
}

/// Opens the master connection to a host.
async fn open_master(host: &SshHost, control: &Path) -> Result<(), String> {
    let argv = master_args(host, control);
    let mut command = command(&argv);
    // The master stays in the background after `-f`: its stderr goes to a file, not a pipe
    // that would stay open as long as it lives.
    // Named after the host, not its address: aliases of one server connect at the same time.
    let log = control.join(format!(
        "connect-{}-{}.log",
        std::process::id(),
        socket_name(&host.name)
    ));
    let err_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err_file)
        .kill_on_drop(false);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start ssh: {e}"))?;
    let status = tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(5), child.wait())
        .await
        .map_err(|_| format!("no connection after {}s", CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    let stderr = std::fs::read(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&stderr);
        let why = why
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("ssh failed")
            .trim()
            .to_owned();
        Err(format!("unreachable: {why}"))
    }
}
