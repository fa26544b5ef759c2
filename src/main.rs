//! The `runbook` binary: everything lives in `runbook-cli`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    runbook_cli::main()
}
