//! API keys: a type that never prints its value, and redaction of free text.

use std::fmt;

/// An API key. `Debug` and `Display` never show it; only [`Secret::expose`] does,
/// and only the HTTP client calls that, to build the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
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
        let msg = format!("Incorrect API key provided: {key}. Also sk-or-v1-abcd...6789 and 0123456789");
        let r = redact(&msg, key);
        assert!(!r.contains(key));
        assert!(!r.contains("0123456789"));
        assert!(r.contains("Incorrect API key provided"));
    }
}
