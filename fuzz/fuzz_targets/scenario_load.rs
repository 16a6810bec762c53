//! `sim::Scenario::from_str` on arbitrary text: never panics; errors follow
//! the shared rules (location for YAML errors, inside the file, no control
//! characters); a scenario that loads can be used (groups, limits, scaling).
#![no_main]

#[path = "../common/yaml.rs"]
mod yaml;

use libfuzzer_sys::fuzz_target;
use rotor::diag::is_blank;
use rotor::sim::{Scenario, ScenarioError};

fuzz_target!(|data: &[u8]| {
    let text = yaml::text(data);
    match Scenario::from_str(&text, "fuzz.yaml") {
        Ok(s) => {
            assert!(!s.models.is_empty());
            for m in &s.models {
                assert!(s.model(&m.id).is_some());
                if let Some(g) = s.group_of(&m.id) {
                    assert!(s.group_limits(g).is_some());
                }
            }
            let _ = (s.scaled(60.0), s.scaled(86_400.0), s.scaled(f64::MAX));
            s.validate().expect("a loaded scenario validates");
        }
        Err(e) => {
            let rendered = e.to_string();
            let (line, what, hint) = match &e {
                ScenarioError::Syntax {
                    line,
                    message,
                    hint,
                    ..
                }
                | ScenarioError::Invalid {
                    line,
                    message,
                    hint,
                    ..
                } => (*line, message.as_str(), hint.as_str()),
                ScenarioError::Read { .. } => unreachable!("from_str reads no file"),
            };
            yaml::check_error(
                &text,
                is_blank(&text),
                line,
                what,
                hint,
                &rendered,
                "fuzz.yaml",
            );
        }
    }
});
