//! API keys: a type that never prints its value, and redaction of free text.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Every key this process has loaded, so a panic message can be cleaned of
/// them even when the code that panicked never saw a [`Secret`].
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// An API key. `Debug` and `Display` never show it; only [`Secret::expose`] does,
/// and only the HTTP client calls that, to build the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
            if !known.contains(&value) {
                known.push(value.clone());
            }
        }
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key (and of any 8+ character piece of it
    /// a server might echo, such as OpenAI's masked `sk-...abcd`) in `text`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Removes `secret` from `text`, and any run of 8 or more of its characters
/// (servers echo keys partly: the first or last few characters).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(secret, "***");
    if secret.len() >= 12 && secret.is_ascii() {
        // Any 8-byte window of the key that survives in the text is masked too.
        let mut changed = true;
        while changed {
            changed = false;
            for start in 0..=secret.len() - 8 {
                let piece = &secret[start..start + 8];
                if out.contains(piece) {
                    out = out.replace(piece, "***");
                    changed = true;
                }
            }
        }
    }
    out
}

/// Removes every key this process has loaded from `text`.
pub fn redact_known(text: &str) -> String {
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
    // Longest first, so a key is removed whole before a shorter one that
    // shares a piece with it cuts it up.
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    known.iter().fold(text.to_string(), |t, k| redact(&t, k))
}

/// The line a panic prints: what and where, with every loaded key removed.
pub fn panic_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    redact_known(&format!(
        "rotor: internal error (a bug: please report it): {what}{place}"
    ))
}

/// Replaces the default panic hook with one that prints [`panic_report`]
/// (and a backtrace only when `RUST_BACKTRACE` asks for one), so no key can
/// reach stderr through a panic message.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let mut text = panic_report(info);
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            text = format!("{text}\n{}", redact_known(&trace));
        }
        crate::say!("{text}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("sk-or-v1-canary-0123456789");
        assert!(!format!("{s:?} {s}").contains("canary"));
    }

    #[test]
    fn redact_whole_and_partial_echoes() {
        let key = "sk-or-v1-abcdef0123456789";
        let msg =
            format!("Incorrect API key provided: {key}. Also sk-or-v1-abcd...6789 and 0123456789");
        let r = redact(&msg, key);
        assert!(!r.contains(key));
        assert!(!r.contains("0123456789"));
        assert!(r.contains("Incorrect API key provided"));
    }

    #[test]
    fn a_panic_message_never_carries_a_loaded_key() {
        let key = "sk-or-v1-panic-canary-0123456789-the-longest-key-of-these-tests";
        let _secret = Secret::new(key);
        let report = std::sync::Arc::new(Mutex::new(String::new()));
        let seen = report.clone();
        let previous = std::panic::take_hook();
        // Only this test's panic: the hook is global while other tests run.
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|l| l.file().ends_with("secret.rs"))
            {
                *seen.lock().unwrap() = panic_report(info);
            }
        }));
        let result = std::panic::catch_unwind(|| panic!("request with key {key} failed"));
        std::panic::set_hook(previous);
        assert!(result.is_err());
        let report = report.lock().unwrap().clone();
        assert!(report.contains("request with key *** failed"), "{report}");
        assert!(report.contains("src/secret.rs"), "{report}");
        assert!(!report.contains("panic-canary"), "{report}");
    }
}
