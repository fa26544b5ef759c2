//! A real sshd on loopback for remote steps: its own host key, an authorized key, a free port,
//! a dedicated unprivileged user (created when missing; scripts/test.sh installs
//! openssh-server). Any number of inventory hosts can be aliases of the one server.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Sandbox, closed_port, wait_for};

/// The user remote steps log in as: a plain user, since root's shell rc on these machines is
/// slow to start.
pub const SSH_USER: &str = "runbook-ssh";

/// A running sshd and the files a client needs to reach it; dropping it stops the server and
/// its connections.
pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs a setup command to its end; panics with its stderr when it fails.
fn run_setup(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new ed25519 key pair without a passphrase: `path` and `path.pub`.
fn ed25519_key(path: &Path) {
    run_setup(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path),
    );
}

/// Creates [`SSH_USER`] unless it exists.
fn ensure_user() {
    let exists = Command::new("id")
        .arg(SSH_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        // Racing test binaries may both try: the loser's error is fine.
        let _ = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", SSH_USER])
            .status();
        // sshd without PAM refuses a locked account: no password, but not locked.
        run_setup(Command::new("usermod").args(["-p", "*", SSH_USER]));
    }
}

impl Sshd {
    /// Starts a server on a free loopback port, in a temporary folder of its own (which also
    /// holds `shared/`, a folder every user may write: the tests' side effects go there).
    pub fn start() -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "these tests need openssh-server (scripts/test.sh installs it)"
        );
        ensure_user();
        let dir = tempfile::Builder::new()
            .prefix("runbook-sshd-")
            .tempdir()
            .unwrap();
        let p = |name: &str| dir.path().join(name);
        // The user reads its authorized keys and writes the tests' side effects here.
        run_setup(Command::new("chmod").arg("755").arg(dir.path()));
        std::fs::create_dir(p("shared")).unwrap();
        run_setup(Command::new("chmod").arg("1777").arg(p("shared")));
        ed25519_key(&p("host_key"));
        ed25519_key(&p("client_key"));
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();
        run_setup(Command::new("chmod").arg("644").arg(p("authorized_keys")));
        let port = closed_port();
        std::fs::write(
            p("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
                 AuthorizedKeysFile {ak}\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nStrictModes no\nMaxStartups 200:30:400\n\
                 MaxSessions 200\nAllowUsers {SSH_USER}\nSubsystem sftp internal-sftp\n",
                hk = p("host_key").display(),
                pid = p("sshd.pid").display(),
                ak = p("authorized_keys").display(),
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(p("host_key.pub")).unwrap();
        std::fs::write(p("known_hosts"), format!("runbook-test {host_pub}")).unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        // Its own process group (so its connections end with it), and none of our output.
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(p("sshd_config"))
            .arg("-E")
            .arg(p("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start sshd");
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "sshd did not listen: {}",
            std::fs::read_to_string(p("sshd.log")).unwrap_or_default()
        );
        Sshd { child, dir, port }
    }

    /// A file in the server's folder: `known_hosts`, `client_key`, `sshd.log`, `shared/...`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new key pair `NAME`, `NAME.pub` in the server's folder (a key the server does not know).
    pub fn keygen(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        ed25519_key(&path);
        path
    }

    /// An inventory host entry reaching this server as `name`, checking its key against
    /// `known_hosts` (all names share the server's key by alias).
    pub fn host(&self, name: &str, known_hosts: &Path) -> String {
        format!(
            "  {name}: {{ address: 127.0.0.1, port: {port}, user: {SSH_USER}, ssh_options: [\"UserKnownHostsFile={kh}\", \"IdentityFile={key}\", \"IdentitiesOnly=yes\", \"HostKeyAlias=runbook-test\", \"StrictHostKeyChecking=yes\"] }}\n",
            port = self.port,
            kh = known_hosts.display(),
            key = self.path("client_key").display(),
        )
    }

    /// Writes `inv.yaml` in the sandbox: hosts web-1..web-N reaching this server, `extra` host
    /// entries after them, and the group `web` of the N.
    pub fn inventory(&self, sb: &Sandbox, n: usize, extra: &str) -> PathBuf {
        let kh = self.path("known_hosts");
        let mut body = String::from("hosts:\n");
        for i in 1..=n {
            body.push_str(&self.host(&format!("web-{i}"), &kh));
        }
        body.push_str(extra);
        body.push_str("groups:\n  web: [");
        body.push_str(
            &(1..=n)
                .map(|i| format!("web-{i}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        body.push_str("]\n");
        sb.inventory("inv.yaml", &body)
    }
}
