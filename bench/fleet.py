"""The fleet benchmark (issue 11): 50 host aliases on one real loopback sshd, 4 steps each.

runbook (default forks) against ansible-playbook (forks=50, pipelining, ControlPersist,
strategy free, no facts) and a raw parallel `ssh` loop over multiplexed connections.

Each tool is measured cold (its connections opened in the run) and warm (every host's
connection already open: what a step costs on an established connection).
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOSTS = 50
STEPS = 4
# The login user: root's shell start-up is slow here, so an unprivileged one when we are root
# (the same user as tests/ssh.rs).
SSH_USER = "runbook-ssh" if os.getuid() == 0 else os.environ.get("USER", "")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """A private sshd on loopback: its own host key, an authorized key, a free port."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="runbook-bench-sshd."))
        os.chmod(self.dir, 0o755)
        if os.getuid() == 0 and subprocess.run(["id", SSH_USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", SSH_USER], check=True)
            subprocess.run(["usermod", "-p", "*", SSH_USER], check=True)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / key)], check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        os.chmod(self.dir / "authorized_keys", 0o644)
        self.port = _free_port()
        # 50 masters connect at once, and each carries a session per step.
        listen = "ListenAddress 127.0.0.1\n"
        (self.dir / "sshd_config").write_text(
            f"Port {self.port}\n{listen}HostKey {self.dir / 'host_key'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
            "UseDNS no\nMaxStartups 500:30:1000\nMaxSessions 500\n"
            f"AllowUsers {SSH_USER}\n"
        )
        host_pub = (self.dir / "host_key.pub").read_text()
        (self.dir / "known_hosts").write_text(f"runbook-bench {host_pub}")
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-f", str(self.dir / "sshd_config"), "-E", str(self.dir / "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen: " + (self.dir / "sshd.log").read_text())

    def options(self):
        return [
            f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            f"IdentityFile={self.dir / 'client_key'}",
            "IdentitiesOnly=yes",
            "HostKeyAlias=runbook-bench",
            "StrictHostKeyChecking=yes",
        ]

    def stop(self):
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def names():
    return [f"h{i:02d}" for i in range(1, HOSTS + 1)]


def address(_host):
    # One server: every host is an alias of it. Each tool still keeps one connection per
    # host (its control socket is named after the alias, never after the shared address).
    return "127.0.0.1"


def write_runbook(sshd, work):
    opts = ", ".join(f'"{o}"' for o in sshd.options())
    inv = ["apiVersion: runbook/v1", "kind: Inventory", "hosts:"]
    inv += [f"  {h}: {{ address: {address(h)}, port: {sshd.port}, user: {SSH_USER}, ssh_options: [{opts}] }}" for h in names()]
    inv += ["groups:", f"  fleet: [{', '.join(names())}]"]
    (work / "fleet-inv.yaml").write_text("\n".join(inv) + "\n")
    pb = ["apiVersion: runbook/v1", "kind: Playbook", "metadata: { name: bench-fleet }", "steps:"]
    pb += [f"  - {{ id: s{i}, on: fleet, run: 'echo step {i} on $RUNBOOK_HOST' }}" for i in range(STEPS)]
    (work / "fleet.yaml").write_text("\n".join(pb) + "\n")


def write_ansible(sshd, work, control):
    lines = ["[fleet]"]
    ssh_args = " ".join(f"-o {o}" for o in sshd.options())
    lines += [f"{h} ansible_host={address(h)} ansible_port={sshd.port} ansible_user={SSH_USER} "
              f"ansible_ssh_args='-o ControlMaster=auto -o ControlPersist=120s -o ControlPath={control}/{h} {ssh_args}'"
              for h in names()]
    lines += ["", "[fleet:vars]", "ansible_python_interpreter=/usr/bin/python3",
              f"ansible_ssh_private_key_file={sshd.dir / 'client_key'}"]
    (work / "fleet.ini").write_text("\n".join(lines) + "\n")
    tasks = "\n".join(f"    - name: step {i}\n      ansible.builtin.command: echo step {i}" for i in range(STEPS))
    (work / "fleet.yml").write_text(
        f"- hosts: fleet\n  gather_facts: false\n  strategy: free\n  tasks:\n{tasks}\n")
    (work / "ansible.cfg").write_text(
        "[defaults]\nforks = 50\nhost_key_checking = True\ngathering = explicit\n"
        "interpreter_python = /usr/bin/python3\nretry_files_enabled = False\n"
        "[ssh_connection]\npipelining = True\n"
    )


def write_raw(sshd, work, control):
    """A bash loop: each step on every host at once, the next step when all returned."""
    opts = " ".join(f"-o {o}" for o in sshd.options())
    ssh = (f"ssh -T -o BatchMode=yes -o ControlMaster=auto -o ControlPersist=120s "
           f"{opts} -p {sshd.port} -l {SSH_USER}")
    script = ["#!/usr/bin/env bash", "set -e"]
    for i in range(STEPS):
        script.append(f"pids=(); for h in {' '.join(names())}; do {ssh} -o ControlPath={control}/raw-$h 127.0.0.1 "
                      f"'echo step {i} on '\"$h\" >/dev/null & pids+=($!); done")
        script.append('for p in "${pids[@]}"; do wait "$p"; done')
    (work / "raw.sh").write_text("\n".join(script) + "\n")


def _close_masters(control, ssh_dirs=()):
    """Stops every master under `control` (and runbook's own folder): the next run is cold."""
    for d in [control, *ssh_dirs]:
        if not d.exists():
            continue
        for sock in d.iterdir():
            if sock.is_socket():
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True)


def _timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def run(runbook, ansible, reps, env):
    """Medians (seconds) per tool, cold and warm: {"runbook": (cold, warm), ...}."""
    if not Path("/usr/sbin/sshd").exists():
        print("fleet: no /usr/sbin/sshd, skipped", file=sys.stderr)
        return None
    sshd = Sshd()
    work = Path(tempfile.mkdtemp(prefix="runbook-bench-fleet."))
    control = Path(tempfile.mkdtemp(prefix="rbf."))  # short: socket paths stay under 108 bytes
    # runbook's control folder is under TMPDIR: a private one, so closing its masters touches
    # nobody else's connections.
    rb_tmp = Path(tempfile.mkdtemp(prefix="rbt."))
    runbook_control = rb_tmp / f"runbook-ssh-{os.getuid()}"
    try:
        write_runbook(sshd, work)
        write_ansible(sshd, work, control)
        write_raw(sshd, work, control)
        transcript = work / "t.jsonl"

        def rb():
            transcript.unlink(missing_ok=True)
            shutil.rmtree(work / "t.out", ignore_errors=True)
            return _timed([str(runbook), "run", "--yes", str(work / "fleet.yaml"), "-i",
                           str(work / "fleet-inv.yaml"), "--transcript", str(transcript)],
                          env=dict(os.environ, TMPDIR=str(rb_tmp)))

        tools = {
            "runbook": rb,
            "raw ssh loop": lambda: _timed(["bash", str(work / "raw.sh")]),
        }
        if ansible:
            aenv = dict(env, ANSIBLE_CONFIG=str(work / "ansible.cfg"))
            tools["ansible-playbook"] = lambda: _timed(
                [str(ansible), "-i", str(work / "fleet.ini"), str(work / "fleet.yml")], env=aenv)
        # A step per host one at a time on a warm connection: the latency floor.
        results = {}
        for name, fn in tools.items():
            n = max(1, reps if name != "ansible-playbook" else min(reps, 3))
            cold, warm = [], []
            for _ in range(n):
                _close_masters(control, [runbook_control])
                cold.append(fn())
                warm.append(fn())
            results[name] = (statistics.median(cold), statistics.median(warm))
            print(f"fleet {name}: cold {results[name][0]:.3f}s warm {results[name][1]:.3f}s", file=sys.stderr)
        _close_masters(control, [runbook_control])
        return results
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(rb_tmp, ignore_errors=True)


def section(results, reps, ansible=None):
    """The Markdown section of docs/performance.md."""
    if not results:
        return ""
    rb_cold, rb_warm = results["runbook"]
    raw_cold, raw_warm = results["raw ssh loop"]
    ans = results.get("ansible-playbook")
    fmt = lambda s: f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"
    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    cpu = first_line(["bash", "-c", "echo $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"])
    out = [
        f"## Fleet: {HOSTS} hosts x {STEPS} steps over SSH",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `bench/run.sh --only fleet` (bench/fleet.py) on {cpu}; "
        f"{first_line(['ssh', '-V'])}; ansible-core from PyPI in a venv "
        f"({first_line([str(ansible), '--version']) if ansible else 'not measured'}). "
        "The machine is shared with other builds: the load changes between runs, read the ratios.",
        "",
        f"{HOSTS} inventory hosts, all aliases of one real sshd on loopback (its own host key, "
        "MaxStartups and MaxSessions raised); each of the 4 steps runs `echo` on every host. "
        "Cold: the run opens its connections; warm: every host's multiplexed connection is "
        f"already open (ControlPersist). Medians of {reps} runs (ansible: up to 3).",
        "",
        "| tool | cold | warm | warm per step per host |",
        "|---|---|---|---|",
    ]
    per = lambda t: f"{t / (HOSTS * STEPS) * 1000:.1f} ms"
    out.append(f"| runbook run --yes (default forks: 50) | {fmt(rb_cold)} | {fmt(rb_warm)} | {per(rb_warm)} |")
    out.append(f"| raw parallel `ssh` loop, multiplexed | {fmt(raw_cold)} | {fmt(raw_warm)} | {per(raw_warm)} |")
    if ans:
        out.append(f"| ansible-playbook (forks 50, pipelining, ControlPersist, strategy free, no facts) | "
                   f"{fmt(ans[0])} | {fmt(ans[1])} | {per(ans[1])} |")
    out += ["", "| ratio | cold | warm |", "|---|---|---|"]
    out.append(f"| runbook / raw ssh loop | {rb_cold / raw_cold:.2f}x | {rb_warm / raw_warm:.2f}x |")
    if ans:
        out.append(f"| ansible / runbook | {ans[0] / rb_cold:.1f}x | {ans[1] / rb_warm:.1f}x |")
    mark = lambda ok: "met" if ok else "missed"
    per_host_step = rb_warm / (HOSTS * STEPS) * 1000
    out += ["", "Goals (issue 11), on this run:", ""]
    if ans:
        out.append(f"- at least 10x faster than ansible-playbook: warm {ans[1] / rb_warm:.1f}x "
                   f"({mark(ans[1] / rb_warm >= 10)}), cold {ans[0] / rb_cold:.1f}x "
                   f"({mark(ans[0] / rb_cold >= 10)}). Cold, every tool first makes {HOSTS} SSH "
                   "handshakes on 2 cores: the raw loop pays them too, so no tool can be much "
                   "below its cold time.")
    out.append(f"- within 1.5x of the raw ssh loop: warm {rb_warm / raw_warm:.2f}x "
               f"({mark(rb_warm / raw_warm <= 1.5)}), cold {rb_cold / raw_cold:.2f}x "
               f"({mark(rb_cold / raw_cold <= 1.5)}).")
    out.append(f"- under 10 ms per step per host on an established connection (the warm run's wall "
               f"time over its {HOSTS * STEPS} host-steps): {per_host_step:.1f} ms "
               f"({mark(per_host_step < 10)}; the raw ssh loop: {raw_warm / (HOSTS * STEPS) * 1000:.1f} ms).")
    out.append("")
    return "\n".join(out)


MARK_OPEN, MARK_CLOSE = "<!-- fleet: bench/fleet.py -->", "<!-- /fleet -->"


def splice(path, text):
    """Puts the fleet section into `path` between its markers (appended the first time)."""
    old = path.read_text() if path.exists() else ""
    block = f"{MARK_OPEN}\n{text}{MARK_CLOSE}\n"
    if MARK_OPEN in old and MARK_CLOSE in old:
        head, rest = old.split(MARK_OPEN, 1)
        tail = rest.split(MARK_CLOSE, 1)[1].lstrip("\n")
        new = head + block + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)
