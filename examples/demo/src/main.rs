//! `demo-service`: the small real HTTP service the demo playbooks diagnose and repair.
//!
//! `demo-service --port PORT --state DIR` serves `GET /health` (also `/api/health`, `/health/ready`; 200 `{"status":"healthy",...}`,
//! or 503 `{"status":"down"}` while `DIR/broken` exists), `GET /`, `GET /version` and `GET /v1/models` (401, as a public API without a key). It logs one
//! line per request to stdout. The supervisor (`bin/systemctl`) starts, stops and breaks it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Instant;

const VERSION: &str = "1.4.2";

fn main() {
    let mut port = 8080u16;
    let mut state = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--state" => state = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("demo-service: cannot listen on 127.0.0.1:{port}: {err}");
            std::process::exit(1);
        }
    };
    println!("demo-service {VERSION} listening on http://127.0.0.1:{port}");
    let started = Instant::now();
    for stream in listener.incoming().flatten() {
        if let Err(err) = serve(stream, &state, started) {
            eprintln!("demo-service: {err}");
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: demo-service --port PORT --state DIR");
    std::process::exit(2);
}

fn serve(mut stream: TcpStream, state: &Path, started: Instant) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the headers to the blank line; the demo takes no bodies.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let broken = state.join("broken").exists();
    let (status, body) = match path {
        // Each seed system names its health endpoint differently.
        "/health" | "/api/health" | "/health/ready" if broken => (
            "503 Service Unavailable",
            r#"{"status":"down","error":"database connection refused"}"#.to_owned(),
        ),
        "/health" | "/api/health" | "/health/ready" => (
            "200 OK",
            format!(
                r#"{{"status":"healthy","version":"{VERSION}","uptime_seconds":{}}}"#,
                started.elapsed().as_secs()
            ),
        ),
        "/version" => ("200 OK", format!(r#"{{"version":"{VERSION}"}}"#)),
        // What a public API answers without a key: reachable, not authorised (the demo's
        // stand-in for OpenAI's /v1/models).
        "/v1/models" => (
            "401 Unauthorized",
            r#"{"error":{"message":"You didn't provide an API key.","type":"invalid_request_error"}}"#
                .to_owned(),
        ),
        "/" => ("200 OK", r#"{"service":"demo"}"#.to_owned()),
        _ => ("404 Not Found", r#"{"error":"not found"}"#.to_owned()),
    };
    println!(
        "{} {} -> {}",
        request_line.trim(),
        if broken { "(broken)" } else { "" },
        status
    );
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
