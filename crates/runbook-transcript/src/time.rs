//! UTC timestamps (RFC 3339 with milliseconds, through humantime), compact ids, durations for
//! people, and the incident clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-22T21:30:05.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// `20261122T213005Z`, for file names and run ids.
pub fn compact(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

/// Formats a duration compactly for people: `450ms`, `8.1s`, `2m30s`, `1h05m`.
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The incident clock: wall time since the run first started, across every resume. Within a
/// process it ticks on the monotonic clock, so a wall-clock step does not move it backwards.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
    /// The clock's reading when `origin` was taken.
    offset: std::time::Duration,
    /// When the clock started, in Unix milliseconds.
    start_unix_ms: u64,
}

impl Clock {
    /// A clock that starts now (a new run).
    pub fn start() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
            offset: std::time::Duration::ZERO,
            start_unix_ms: unix_ms(SystemTime::now()),
        }
    }

    /// The clock of a run that started at `start_unix_ms`: it reads the wall time since, so
    /// time while no process ran the run counts.
    pub fn since(start_unix_ms: u64) -> Clock {
        let now = unix_ms(SystemTime::now());
        Clock {
            origin: std::time::Instant::now(),
            offset: std::time::Duration::from_millis(now.saturating_sub(start_unix_ms)),
            start_unix_ms,
        }
    }

    /// Time on the incident clock: since the run first started, across resumes.
    pub fn elapsed(&self) -> std::time::Duration {
        self.offset + self.origin.elapsed()
    }

    /// [`Clock::elapsed`] in milliseconds.
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed().as_millis() as u64
    }

    /// When the clock started, in milliseconds since the Unix epoch.
    pub fn start_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    /// The instant (on this process's monotonic clock) at which the clock reads `at`.
    pub fn instant_at(&self, at: std::time::Duration) -> std::time::Instant {
        match at.checked_sub(self.offset) {
            Some(after) => self.origin + after,
            None => self.origin,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Parses the timestamps this crate writes (`2026-11-22T21:30:05.123Z`) back to Unix
/// milliseconds; `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    // humantime also reads other precisions; a transcript's timestamps have milliseconds.
    if text.len() != 24 {
        return None;
    }
    let t = humantime::parse_rfc3339(text).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// The current time as a transcript timestamp (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_what_it_writes() {
        for ms in [0u64, 1_764_606_605_123, 951_782_400_000, 4_102_444_799_999] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(parse_rfc3339_ms(&rfc3339(t)), Some(ms), "{}", rfc3339(t));
        }
        assert_eq!(parse_rfc3339_ms("2026-13-01T00:00:00.000Z"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn formats_durations_compactly() {
        assert_eq!(format_duration(Duration::from_millis(450)), "450ms");
        assert_eq!(format_duration(Duration::from_millis(8_100)), "8.1s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_secs(3900)), "1h05m");
    }

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_383_005_123);
        assert_eq!(rfc3339(t), "2026-11-22T21:30:05.123Z");
        assert_eq!(compact(t), "20261122T213005Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
