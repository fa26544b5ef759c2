//! Parse + validate arbitrary bytes: must never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = runbook_model::check_bytes(std::path::Path::new("fuzz.yaml"), data.to_vec());
    // Rendering touches every diagnostic's location against its source line.
    for d in &checked.diagnostics {
        let _ = d.render_human(false);
        let _ = d.render_github();
    }
});
