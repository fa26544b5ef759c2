//! Escalation delivery: a JSON POST to a webhook (ureq, on a blocking thread) or a command that
//! reads the message on stdin. A failed delivery is reported, never fatal.

use std::time::Duration;

use runbook_model::Inventory;
use runbook_template::{Engine, Mode};
use runbook_transcript::Delivery;
use serde::Serialize;
use serde_json::Value;

use crate::redact::Redactor;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What is sent: the webhook's JSON body, and the values a channel command's template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// The page's number in the run, from 1 (every page counts, across resumes).
    pub level: u32,
    /// Why the page goes out.
    pub reason: runbook_transcript::EscalationReason,
    /// The subject line: `[severity] title — escalation level N`.
    pub subject: String,
    /// The rendered message, secrets masked.
    pub message: String,
    /// The playbook as `run_started` records it: name, title, version, file, sha256.
    pub playbook: Value,
    /// The run: its id, elapsed time (text and seconds), failed step and how late the page is.
    pub run: Value,
    /// The run's report so far (Markdown), when a `notify:` step asks for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// Delivers a notice to one channel of the inventory: the result, with how long it took.
pub async fn deliver_one(
    engine: &Engine,
    inventory: Option<&Inventory>,
    name: &str,
    notice: &Notice,
) -> Delivery {
    let started = std::time::Instant::now();
    let result = match inventory.and_then(|i| i.channels.get(name)) {
        None => Err(format!("no channel `{name}` in the inventory")),
        Some(channel) => {
            if let Some(url) = &channel.webhook {
                post(
                    url.clone(),
                    channel
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    name,
                    notice,
                )
                .await
            } else if let Some(command) = &channel.command {
                run_command(engine, command, notice).await
            } else {
                Err("the channel has neither webhook nor command".to_owned())
            }
        }
    };
    Delivery {
        channel: name.to_owned(),
        ok: result.is_ok(),
        error: result.err(),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn post(
    url: String,
    headers: Vec<(String, String)>,
    channel: &str,
    notice: &Notice,
) -> Result<(), String> {
    let mut body = serde_json::to_value(notice).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut body {
        map.insert("channel".into(), Value::String(channel.to_owned()));
        // Chat webhooks (Slack, Mattermost) display `text`.
        let text = match &notice.report {
            Some(report) => format!("{}\n{}\n\n{report}", notice.subject, notice.message),
            None => format!("{}\n{}", notice.subject, notice.message),
        };
        map.insert("text".into(), Value::String(text));
    }
    let body = body.to_string();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(WEBHOOK_TIMEOUT))
            .build()
            .into();
        let mut request = agent
            .post(&url)
            .header("User-Agent", concat!("runbook/", env!("CARGO_PKG_VERSION")));
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        request
            .content_type("application/json")
            .send(body.as_str())
            .map(|_| ())
            // The URL is a credential for chat webhooks: never in the message, nor anything
            // of it ureq may quote.
            .map_err(|e| {
                let mut secrets = Redactor::default();
                secrets.add(&url);
                for (_, value) in &headers {
                    secrets.add(value);
                }
                format!(
                    "the webhook POST failed: {}",
                    secrets.redact(&e.to_string())
                )
            })
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn run_command(engine: &Engine, template: &str, notice: &Notice) -> Result<(), String> {
    let ctx = runbook_template::context(notice);
    let script = engine
        .render(template, &ctx, Mode::Shell)
        .map_err(|e| e.message)?;
    let mut child = crate::process::bash(&script, &[])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the channel command: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(notice.message.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
        if let Some(report) = &notice.report {
            let _ = stdin.write_all(b"\n").await;
            let _ = stdin.write_all(report.as_bytes()).await;
        }
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "the channel command took longer than {}s",
                COMMAND_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "the channel command failed ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}
