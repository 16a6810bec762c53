//! `Suite::from_str` on arbitrary text: never panics; errors follow the shared
//! rules (location for YAML errors, inside the file, no control characters);
//! a suite that loads can be used (messages, timeouts, lookups).
#![no_main]

#[path = "../common/yaml.rs"]
mod yaml;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rotor::diag::is_blank;
use rotor::suite::Suite;

fuzz_target!(|data: &[u8]| {
    let text = yaml::text(data);
    match Suite::from_str(&text, Path::new("fuzz.yaml")) {
        Ok(suite) => {
            assert!(!suite.items.is_empty());
            for item in &suite.items {
                assert_eq!(suite.item(&item.id).map(|i| &i.id), Some(&item.id));
                assert!(suite.find_by_prompt(&item.prompt).is_some());
                assert_eq!(suite.messages(item).len(), 2);
                let t = suite.timeout_for(item);
                assert!(t.is_finite() && t > 0.0, "timeout {t}");
                let _ = suite.max_tokens_for(item);
            }
        }
        Err(e) => {
            let rendered = e.to_string();
            let line = e.pos().map(|p| p.line);
            yaml::check_error(
                &text,
                is_blank(&text),
                line,
                &e.what(),
                e.hint(),
                &rendered,
                "fuzz.yaml",
            );
        }
    }
});
