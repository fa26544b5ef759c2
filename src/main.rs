//! The `runbook` binary: everything lives in `runbook-cli`.

fn main() -> std::process::ExitCode {
    runbook_cli::main()
}
