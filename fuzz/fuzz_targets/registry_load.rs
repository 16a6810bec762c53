//! `Registry::from_str` on arbitrary text: never panics; errors follow the
//! shared rules (location for YAML errors, inside the file, no control
//! characters); a registry that loads can be used (chain, tiers, durations).
#![no_main]

#[path = "../common/yaml.rs"]
mod yaml;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rotor::diag::is_blank;
use rotor::registry::Registry;

fuzz_target!(|data: &[u8]| {
    let text = yaml::text(data);
    match Registry::from_str(&text, Path::new("fuzz.yaml")) {
        Ok(reg) => {
            let chain = reg.chain();
            for m in &chain {
                assert!(reg.model(&m.id).is_some());
            }
            for m in reg.active_models() {
                assert!(reg.provider_of(m).is_some(), "model without its provider");
                let _ = (m.is_free(), m.p50_ms());
            }
            for t in &reg.tiers {
                assert!(reg.tier(&t.name).is_some());
                let _ = reg.tier_for_latency(t.max_p50_ms.saturating_sub(1));
            }
            let r = &reg.rotation;
            let _ = (
                r.max_wait(),
                r.deadline(),
                r.backoff.base(),
                r.backoff.cap(),
            );
            let _ = r.breaker.cooldown();
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
            let _ = e.location();
        }
    }
});
