//! A watch's per-repetition captures (format 1.1): each capture `NAME` of a `watch` step is
//! also `NAME_series`, one value per repetition; checks over a series are graded at the end of
//! the watch with the aggregate filters (`first`, `last`, `min`, `max`, `growth`,
//! `increasing`, `decreasing`).

use serde_json::json;

use crate::support::*;

/// A watch of a process whose RSS (a counter file here) goes up by `step` each repetition.
fn leak_playbook(sb: &Sandbox, step: u32) -> std::path::PathBuf {
    sb.playbook(
        "pb.yaml",
        "leak",
        &format!(
            r#"
steps:
  - id: watch-rss
    run: "n=$(cat rss 2>/dev/null || echo 100); echo $((n + {step})) > rss; echo rss=$n"
    watch: {{ every: 200ms, for: 900ms }}
    capture:
      rss: {{ regex: 'rss=(\d+)' }}
    checks:
      - if: "rss_series | increasing"
        status: critical
        message: "RSS grew from {{{{ rss_series | first }}}} to {{{{ rss_series | last }}}} (+{{{{ rss_series | growth }}}}, max {{{{ rss_series | max }}}})"
      - if: "rss | int > 1000"
        status: warning
    on_failure: continue
  - id: later
    run: "echo min={{{{ rss_series | min }}}} count={{{{ rss_series | length }}}}"
"#
        ),
    )
}

#[test]
fn a_growing_series_is_graded_at_the_end_of_the_watch() {
    let sb = Sandbox::new();
    let r = sb.run(&leak_playbook(&sb, 10), &[]);
    r.assert_code(0);
    let done = r.finished("watch-rss");
    assert_eq!(done["outcome"], "failed", "{}", r.dump());
    assert_eq!(done["reason"], "check");
    // The watch ran to its end: a series check does not stop it at the first growth.
    let reps = done["attempts"].as_u64().unwrap();
    assert!(reps >= 4, "{reps} repetitions");
    let series: Vec<u64> = (0..reps).map(|i| 100 + 10 * i).collect();
    assert_eq!(done["captures"]["rss_series"], json!(series));
    let last = 100 + 10 * (reps - 1);
    assert_eq!(
        done["message"],
        format!("RSS grew from 100 to {last} (+{}, max {last})", last - 100)
    );
    // Later steps read the series too.
    assert_eq!(r.output("later"), [format!("min=100 count={reps}")]);
}

#[test]
fn a_flat_series_passes() {
    let sb = Sandbox::new();
    let r = sb.run(&leak_playbook(&sb, 0), &[]);
    r.assert_code(0);
    let done = r.finished("watch-rss");
    assert_eq!(done["outcome"], "ok", "{}", r.dump());
    assert_eq!(done["captures"]["rss"], "100");
    assert!(
        done["captures"]["rss_series"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| *v == json!(100))
    );
}
