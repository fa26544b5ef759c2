//! Values are data, secrets stay secret: the real binary, fed hostile values through every way a
//! value enters a run, must execute nothing, hang nothing and crash nothing; a secret, a var
//! derived from it and a multi-line secret must appear in no output of any kind.
//!
//! Every command runs with a deadline ([`DEADLINE`]): a hang fails the test instead of the suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    HttpSink, Sandbox, Term, TimedOutput, closed_port, files_under, output_within, read_transcript,
};

/// How long any one command of these tests may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(30);

/// Values that are code, options, quotes, templates or line breaks anywhere they are not data.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "a && touch PWNED",
    "' ; touch PWNED ; '",
    "\" ; touch PWNED ; \"",
    "\\\"; touch PWNED; #",
    "a\ntouch PWNED\n",
    "it's \"quoted\" \\ $HOME",
    "{{ 7 * 7 }}",
    "{% for i in range(99999999) %}{% for j in range(99999999) %}x{% endfor %}{% endfor %}",
    "{{ v | reverse }}",
    "\x1b]0;owned\x07\x1b[2J",
];

/// `runbook run --yes --allow-destructive --manual skip PLAYBOOK --transcript T ARGS...`
fn run(
    sb: &Sandbox,
    playbook: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (TimedOutput, PathBuf) {
    let transcript = sb.next_transcript();
    let mut cmd = sb.run_command(playbook, &transcript, args);
    cmd.args(["--allow-destructive", "--manual", "skip"]);
    cmd.envs(env.iter().copied());
    (output_within(cmd, DEADLINE), transcript)
}

fn runbook(sb: &Sandbox, args: &[&str]) -> TimedOutput {
    let mut cmd = sb.command();
    cmd.args(args);
    output_within(cmd, DEADLINE)
}

/// YAML (as JSON, which YAML reads) holding `value` under `key`.
fn yaml_map(key: &str, value: &str) -> String {
    json!({ key: value }).to_string()
}

/// Where hostile values land: every place of a shell command, `env:`, every filter minijinja
/// calls safe, a capture, a sub-playbook's `with:`, a confirm phrase, a report, an escalation
/// message and a channel command.
const PLACES: &str = r#"
params:
  v: { type: string, from_env: HOSTILE_V }
escalation:
  - after: 0s
    notify: [cmd]
    message: "msg {{ v }}"
steps:
  - id: word
    run: printf '%s' {{ v }} > word.out
  - id: double
    run: printf '%s' "<{{ v }}>" > double.out
  - id: single
    run: printf '%s' '<{{ v }}>' > single.out
  - id: ansi-c
    run: printf '%s' $'<{{ v }}>' > ansi-c.out
  - id: substitution
    run: printf '%s' "$(printf '%s' {{ v }})" > substitution.out
  - id: heredoc
    run: |
      cat > heredoc.out <<EOF
      {{ v }}
      EOF
  - id: env
    env: { V: "{{ v }}" }
    run: printf '%s' "$V" > env.out
  - id: tojson
    run: printf '%s' {{ v | tojson }} > tojson.out
  - id: safe
    run: printf '%s' {{ v | safe }} > safe.out
  - id: set-safe
    run: "{% set x = v | safe %}printf '%s' {{ x }} > set-safe.out"
  - id: autoescape
    run: "{% autoescape false %}printf '%s' {{ v }} > autoescape.out{% endautoescape %}"
  - id: escape
    run: printf '%s' {{ v | escape }} > escape.out
  - id: join
    run: printf '%s' {{ [v, v] | join(' ') }} > join.out
  - id: macro
    run: "{% macro m(a) %}{{ a }}{% endmacro %}printf '%s' {{ m(v) }} > macro.out"
  - id: capture
    run: printf '%s' {{ v }}
    capture: { got: { stdout: true } }
  - id: use-capture
    run: printf '%s' {{ got }} > capture.out
  - id: sub
    playbook: sub.yaml
    with: { w: "{{ v }}" }
  - id: confirmed
    confirm: "Really {{ v }}?"
    danger: destructive
    confirm_phrase: "{{ v }}"
    run: printf '%s' confirmed > confirmed.out
  - id: report
    report: "value: {{ v }}"
  - id: escalated
    run: for i in $(seq 100); do [ -s esc-message.out ] && exit 0; sleep 0.05; done; exit 1
"#;

const SUB: &str = r#"
params:
  w: { type: string }
steps:
  - id: with
    run: printf '%s' {{ w }} > with.out
"#;

const CHANNEL: &str = r#"channels: { cmd: { command: "cat > esc-stdin.out; printf '%s' {{ message }} > esc-message.out" } }"#;

/// Asserts a run with hostile `value` executed nothing and delivered it intact everywhere.
fn assert_data(sb: &Sandbox, value: &str, how: &str, result: &TimedOutput, transcript: &Path) {
    let context = format!(
        "{how} with {value:?}: exit {:?}\nstderr:\n{}",
        result.code, result.stderr
    );
    assert!(!sb.exists("PWNED"), "a value ran as code: {context}");
    assert_eq!(result.code, Some(0), "{context}");
    let read = |name: &str| {
        std::fs::read_to_string(sb.path(name))
            .unwrap_or_else(|_| panic!("{name} missing: {context}"))
    };
    for name in [
        "word",
        "env",
        "safe",
        "set-safe",
        "autoescape",
        "macro",
        "with",
    ] {
        assert_eq!(read(&format!("{name}.out")), value, "{name}: {context}");
    }
    for name in ["double", "single", "ansi-c"] {
        assert_eq!(
            read(&format!("{name}.out")),
            format!("<{value}>"),
            "{name}: {context}"
        );
    }
    assert_eq!(
        read("substitution.out"),
        value.trim_end_matches('\n'),
        "{context}"
    );
    assert_eq!(read("heredoc.out"), format!("{value}\n"), "{context}");
    assert_eq!(read("join.out"), format!("{value} {value}"), "{context}");
    let json: Value = serde_json::from_str(&read("tojson.out")).expect("tojson wrote JSON");
    assert_eq!(json, Value::String(value.to_owned()), "{context}");
    assert_eq!(read("confirmed.out"), "confirmed", "{context}");
    assert_eq!(read("esc-message.out"), format!("msg {value}"), "{context}");
    assert_eq!(read("esc-stdin.out"), format!("msg {value}\n"), "{context}");
    let records = read_transcript(transcript);
    let report = records
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "report")
        .expect("the report step finished");
    assert_eq!(report["report"], format!("value: {value}"), "{context}");
    for f in std::fs::read_dir(sb.root()).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "out") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
}

#[test]
fn hostile_values_through_every_path_are_data_everywhere() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "places", PLACES);
    sb.playbook("sub.yaml", "sub", SUB);
    let channels = sb.inventory("channels.yaml", CHANNEL);
    let channels = channels.to_str().unwrap();
    for value in HOSTILE {
        let (r, t) = run(
            &sb,
            &pb,
            &["-i", channels, "--var", &format!("v={value}")],
            &[],
        );
        assert_data(&sb, value, "--var", &r, &t);
    }
    for value in &HOSTILE[..4] {
        let file = sb.write("values.yaml", &yaml_map("v", value));
        let (r, t) = run(
            &sb,
            &pb,
            &["-i", channels, "--var-file", file.to_str().unwrap()],
            &[],
        );
        assert_data(&sb, value, "--var-file", &r, &t);

        let (r, t) = run(&sb, &pb, &["-i", channels], &[("HOSTILE_V", value)]);
        assert_data(&sb, value, "from_env", &r, &t);

        let inventory = sb.inventory(
            "inventory.yaml",
            &format!("vars: {}\n{CHANNEL}", yaml_map("v", value)),
        );
        let (r, t) = run(&sb, &pb, &["-i", inventory.to_str().unwrap()], &[]);
        assert_data(&sb, value, "inventory vars", &r, &t);
    }
}

#[test]
fn a_value_is_never_an_option() {
    let sb = Sandbox::new();
    // A fake ssh on PATH: it records that it ran, whatever it was given.
    let path = sb.stand_ins(&[("ssh", "touch SSH_RAN")]);
    let pb = sb.playbook(
        "pb.yaml",
        "option",
        r#"
params:
  server: { type: string }
steps:
  - id: uptime
    run: ssh {{ server }} uptime
"#,
    );
    let (r, t) = run(
        &sb,
        &pb,
        &["--var", "server=-oProxyCommand=touch PWNED"],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!sb.exists("PWNED") && !sb.exists("SSH_RAN"), "ssh ran");
    let records = read_transcript(&t);
    let finished = records
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "uptime")
        .expect("the step finished");
    let message = finished["message"].as_str().unwrap();
    assert!(
        message.contains("`{{ server }}`: the value starts with `-`")
            && message.contains("read it as an option")
            && message.contains("put `--` before it"),
        "{message}"
    );
    // After `--` the same value is an operand: it runs, as a host name.
    let pb = sb.playbook(
        "dashdash.yaml",
        "dashdash",
        "params:\n  server: { type: string }\nsteps:\n  - id: uptime\n    run: ssh -- {{ server }} uptime\n",
    );
    let (r, _) = run(
        &sb,
        &pb,
        &["--var", "server=-oProxyCommand=touch PWNED"],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(sb.exists("SSH_RAN") && !sb.exists("PWNED"));
}

#[test]
fn hostile_templates_fail_fast_with_a_clear_error() {
    let sb = Sandbox::new();
    let loops = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let growth = "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
    let replace = "{{ ('x' * 4000) | replace('x', 'x' * 4000) | replace('x', 'x' * 4000) }}";
    for (i, template) in [loops, growth, replace].into_iter().enumerate() {
        // In a command: the step fails, the run goes on to its end.
        let pb = sb.playbook(
            &format!("run-{i}.yaml"),
            "expensive",
            &format!(
                "steps:\n  - id: big\n    run: echo {}\n    on_failure: continue\n  - id: after\n    run: echo after\n",
                serde_json::to_string(template).unwrap()
            ),
        );
        let (r, t) = run(&sb, &pb, &[], &[]);
        assert!(
            r.took < Duration::from_secs(10),
            "{template} took {:?}",
            r.took
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let records = read_transcript(&t);
        let big = records
            .iter()
            .find(|r| r["event"] == "step_finished" && r["step"] == "big")
            .unwrap();
        assert_eq!(big["outcome"], "failed");
        assert!(
            big["message"].as_str().unwrap().contains("too expensive"),
            "{big}"
        );
        // In a playbook var: plan refuses it (exit 2) with the var's name.
        let pb = sb.playbook(
            &format!("var-{i}.yaml"),
            "expensive-var",
            &format!(
                "vars:\n  big: {}\nsteps:\n  - id: a\n    run: echo {{{{ big }}}}\n",
                serde_json::to_string(template).unwrap()
            ),
        );
        let p = runbook(&sb, &["plan", pb.to_str().unwrap()]);
        assert_eq!(p.code, Some(2), "{}", p.stderr);
        assert!(p.took < Duration::from_secs(10));
        assert!(
            p.stderr.contains("variable `big`") && p.stderr.contains("too expensive"),
            "{}",
            p.stderr
        );
    }
}

#[test]
fn a_value_holding_braces_is_accepted_and_stays_as_written() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "braces",
        "params:\n  password: { type: string, secret: true }\n  v: { type: string }\nvars:\n  shown: \"[{{ v }}]\"\nsteps:\n  - id: a\n    run: printf '%s' {{ shown }} > out.txt\n",
    );
    let (r, _) = run(
        &sb,
        &pb,
        &[
            "--var",
            "password=sup3r-secret-pw",
            "--var",
            "v={{ password | reverse }}{% raw %}",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(sb.path("out.txt")).unwrap(),
        "[{{ password | reverse }}{% raw %}]"
    );
}

/// A secret, two vars derived from it and a PEM key: in none of the outputs.
#[test]
fn secrets_derived_values_and_multi_line_secrets_are_in_no_output() {
    let sb = Sandbox::new();
    let hook = HttpSink::start();
    let password = "hunter2-Pa55word";
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
               b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
               QyNTUxOQAAACDFake0KeyMaterialThatIsLongEnoughToBeALineOfIt0000000000\n\
               -----END OPENSSH PRIVATE KEY-----";
    let hook_url = format!("{}/T0SECRET/B0SECRET/xoxbHookToken42", hook.url);
    let broken_url = format!(
        "http://127.0.0.1:{}/hooks/brokenHookSecret77",
        closed_port()
    );
    let header = "header-Secret-9000";
    let inventory = sb.inventory(
        "prod.yaml",
        &format!(
            "channels:\n  hook: {{ webhook: \"{hook_url}\", headers: {{ X-Token: {header} }} }}\n  broken: {{ webhook: \"{broken_url}\" }}\n"
        ),
    );
    let var_file = sb.write("secrets.yaml", &yaml_map("key", key));
    let pb = sb.playbook(
        "pb.yaml",
        "secrets",
        r#"
params:
  password: { type: string, secret: true }
  key: { type: string, secret: true }
vars:
  dsn: "postgres://app:{{ password }}@db:5432/app"
  shout: "{{ password | upper }}"
escalation:
  - after: 0s
    notify: [hook, broken]
    message: "db {{ dsn }} is down ({{ shout }})"
steps:
  - id: use
    run: |
      echo "dsn={{ dsn }}"
      echo {{ shout }}
      cat <<EOF
      {{ key }}
      EOF
      echo 'pw={{ password }}' >&2
      echo {{ {'pw': password} | tojson }}
  - id: settle
    wait: 1s
  - id: fail
    run: echo "connecting to {{ dsn }}"; exit 3
    on_failure: { escalate: hook, then: continue }
  - id: summary
    report: "dsn {{ dsn }} / {{ shout }}"
"#,
    );
    let common = [
        "-i",
        inventory.to_str().unwrap(),
        "--var-file",
        var_file.to_str().unwrap(),
        "--var",
    ];
    let pw_arg = format!("password={password}");
    let mut args: Vec<&str> = common.to_vec();
    args.push(&pw_arg);
    args.push("-vv");
    // The `broken` channel fails on purpose (its error must not leak the URL).
    args.push("--allow-undelivered");
    let (r, transcript) = run(&sb, &pb, &args, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    let mut outputs: Vec<(String, String)> = vec![
        ("run stdout".into(), r.stdout.clone()),
        ("run stderr (-vv)".into(), r.stderr.clone()),
    ];
    for file in files_under(sb.root()) {
        let name = file.display().to_string();
        if name.ends_with(".jsonl") || name.contains(".out/") {
            outputs.push((name, std::fs::read_to_string(&file).unwrap()));
        }
    }
    for format in ["human", "markdown", "json"] {
        let mut plan_args = vec!["plan", pb.to_str().unwrap(), "--format", format];
        plan_args.extend_from_slice(&args[..args.len() - 1]);
        let p = runbook(&sb, &plan_args);
        assert_eq!(p.code, Some(0), "plan {format}: {}", p.stderr);
        outputs.push((format!("plan {format}"), p.stdout + &p.stderr));
    }
    for format in ["markdown", "html", "json"] {
        let p = runbook(
            &sb,
            &["report", transcript.to_str().unwrap(), "--format", format],
        );
        assert_eq!(p.code, Some(0), "report {format}: {}", p.stderr);
        outputs.push((format!("report {format}"), p.stdout + &p.stderr));
    }
    let requests = hook.take(2, Duration::from_secs(5));
    assert!(requests.len() >= 2, "both escalations reached the hook");
    for req in &requests {
        outputs.push(("webhook payload".into(), req.body.clone()));
    }

    let dsn = format!("postgres://app:{password}@db:5432/app");
    let mut secrets = vec![
        password.to_owned(),
        password.to_uppercase(),
        dsn,
        "xoxbHookToken42".to_owned(),
        "brokenHookSecret77".to_owned(),
        header.to_owned(),
    ];
    secrets.extend(key.lines().map(str::to_owned));
    for (what, text) in &outputs {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} shows the secret {secret:?}:\n{text}"
            );
        }
    }
    // The masks are there: the output was not simply lost.
    let transcript_text = std::fs::read_to_string(&transcript).unwrap();
    assert!(
        transcript_text.contains("dsn=postgres://app:***@db:5432/app")
            || transcript_text.contains("dsn=***")
    );
    let started = read_transcript(&transcript)
        .into_iter()
        .find(|r| r["event"] == "run_started")
        .unwrap();
    assert_eq!(started["params"]["dsn"], "***");
    assert_eq!(started["params"]["shout"], "***");
    let failed_delivery = read_transcript(&transcript)
        .into_iter()
        .filter(|r| r["event"] == "escalation")
        .flat_map(|r| r["deliveries"].as_array().cloned().unwrap_or_default())
        .find(|d| d["channel"] == "broken")
        .expect("the broken channel was tried");
    assert_eq!(failed_delivery["ok"], false);
    assert!(
        failed_delivery["error"]
            .as_str()
            .unwrap()
            .starts_with("the webhook POST failed"),
        "{failed_delivery}"
    );
}

#[test]
fn a_secret_in_a_command_is_in_no_process_argv() {
    let sb = Sandbox::new();
    let secret = "argv-Secret-31337";
    let pb = sb.playbook(
        "pb.yaml",
        "argv",
        "params:\n  token: { type: string, secret: true, from_env: ARGV_TOKEN }\nsteps:\n  - id: hold\n    run: t={{ token }}; sleep 2.917\n",
    );
    let transcript = sb.next_transcript();
    // From the environment: a --var would be in runbook's own argv, which the operator chose.
    let mut child = sb
        .run_command(&pb, &transcript, &[])
        .env("ARGV_TOKEN", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the step's sleep, then read every process's argv on the machine.
    let mut saw_step = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !saw_step {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                !cmdline.contains(secret),
                "the secret is in /proc/{}/cmdline: {cmdline}",
                entry.file_name().to_string_lossy()
            );
            if cmdline.starts_with("sleep 2.917") {
                saw_step = true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(saw_step, "the step's sleep never showed up");
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn check_refuses_special_files_fast() {
    let sb = Sandbox::new();
    let fifo = sb.path("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::create_dir_all(sb.path("folder")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sb.path("folder/zero.yaml")).unwrap();
    // A link to its own folder must not send the walk round in circles.
    std::os::unix::fs::symlink("..", sb.path("folder/up")).unwrap();
    for target in ["/dev/zero", fifo.to_str().unwrap(), "folder"] {
        let r = runbook(&sb, &["check", target]);
        assert_eq!(r.code, Some(2), "{target}: {}{}", r.stdout, r.stderr);
        assert!(
            r.took < Duration::from_secs(5),
            "{target} took {:?}",
            r.took
        );
        assert!(r.stdout.contains("not-a-file"), "{target}: {}", r.stdout);
    }
    let r = runbook(&sb, &["plan", "/dev/zero"]);
    assert_eq!(r.code, Some(2));
    let pb = sb.playbook("pb.yaml", "p", "steps:\n  - id: a\n    run: 'true'\n");
    let r = runbook(
        &sb,
        &[
            "plan",
            pb.to_str().unwrap(),
            "--var-file",
            fifo.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

/// What the operator's terminal receives: step output's escape sequences shown, not obeyed; a
/// secret answer not echoed, and masked afterwards; a hostile answer used as data.
#[test]
fn the_terminal_shows_escapes_and_hides_secret_answers() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "terminal",
        r#"
steps:
  - id: ask
    manual: Read the token from the vault.
    inputs:
      token: { prompt: Token, secret: true, default: default-Secret-4242 }
      note: { prompt: Note }
  - id: show
    run: |
      printf '\033[2J\033]0;owned\007\rFAKE ok\010\n'
      echo "token={{ token }}"
      printf '%s' {{ note }} > note.txt
"#,
    );
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("TERM", "xterm-256color");
    // rexpect starts the terminal with echo off; a real one echoes what is typed.
    let mut term = Term::spawn_raw_after_stty(cmd, "echo");
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Token [Enter keeps the default] (hidden)");
    term.send_line("typed-Secret-5151");
    term.expect("Note");
    term.send_line("note-visible $(touch PWNED); `touch PWNED`");
    term.expect("Run it?");
    term.send_line("y");
    let code = term.finish();
    assert_eq!(code, 0, "{}", term.screen);
    let screen = &term.screen;
    for secret in ["typed-Secret-5151", "default-Secret-4242"] {
        assert!(
            !screen.contains(secret),
            "the terminal showed {secret}:\n{screen}"
        );
    }
    assert!(screen.contains("token=***"), "{screen}");
    // The step's escapes arrive as text; none of them reaches the terminal as a sequence.
    assert!(
        screen.contains("\\x1b[2J\\x1b]0;owned\\x07\\rFAKE ok\\x08"),
        "{screen}"
    );
    for sequence in ["\x1b[2J", "\x1b]0;", "\x07", "\x08"] {
        assert!(
            !screen.contains(sequence),
            "{sequence:?} reached the terminal"
        );
    }
    // An ordinary answer is echoed as typed: the secret's absence is the echo switched off.
    assert!(screen.contains("› note-visible $(touch PWNED)"), "{screen}");
    assert!(!sb.exists("PWNED"));
    assert_eq!(
        sb.read("note.txt"),
        "note-visible $(touch PWNED); `touch PWNED`"
    );
    let transcript = std::fs::read_to_string(&t).unwrap();
    assert!(!transcript.contains("typed-Secret-5151"));
}

/// What the operator reads when values misbehave: escapes shown as text, the option refused.
#[test]
fn the_printed_run_of_hostile_output_and_an_option() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "printed",
        r#"
params:
  server: { type: string }
steps:
  - id: noisy
    run: printf 'one\033[2K\rFAKE ok\n\033]0;owned\007two\n'
  - id: connect
    run: ssh {{ server }} uptime
"#,
    );
    let (r, _) = run(&sb, &pb, &["-v", "--var", "server=-oProxyCommand=x"], &[]);
    assert_eq!(r.code, Some(1));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\(\d+(\.\d+)?m?s\)", "(TIME)");
    settings.add_filter(r"in \d+(\.\d+)?m?s", "in TIME");
    settings.add_filter(r"transcript: .*", "transcript: [TRANSCRIPT]");
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(r.stderr));
}

/// Without `-v` on a pipe, a failed step's last output lines are printed after it: escaped,
/// as live output is, and only the last ones kept.
#[test]
fn a_failed_steps_tail_is_printed_escaped() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "tail",
        r#"
steps:
  - id: noisy
    run: |
      seq 1 30
      printf 'one\033[2K\rFAKE ok\n\033]0;owned\007two\n'
      exit 1
"#,
    );
    let (r, _) = run(&sb, &pb, &[], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("one\\x1b[2K\\rFAKE ok") && r.stderr.contains("\\x1b]0;owned\\x07two"),
        "{}",
        r.stderr
    );
    for sequence in ["\x1b[2K", "\x1b]0;", "\x07", "\r"] {
        assert!(!r.stderr.contains(sequence), "{sequence:?} reached stderr");
    }
    // The head of the output is gone, the tail is there.
    assert!(r.stderr.contains("│ 30\n"), "{}", r.stderr);
    assert!(!r.stderr.contains("│ 1\n"), "{}", r.stderr);
}
