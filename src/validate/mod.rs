//! Validation of generated code: does the model's answer work?
//!
//! For each answer rotor
//! 1. extracts the code of the item's language ([`extract`](mod@extract), pure; the rules
//!    are in that module's docs),
//! 2. writes it with the item's tests and a small harness into a fresh
//!    temporary directory and runs it in a sandbox ([`sandbox`], [`isolation`]):
//!    an empty environment, a wall-clock limit, CPU/memory/file-size/file-count
//!    limits, its own process group, a per-slot unprivileged uid when rotor runs
//!    as root (so `RLIMIT_NPROC` stops fork bombs), and no network where the
//!    kernel allows a new network namespace,
//! 3. classifies the outcome as a [`Verdict`] with a short detail.
//!
//! [`Validator`] (in [`pool`]) bounds how many sandboxes run at once and never
//! blocks the async runtime; [`score`] turns verdicts into pass@k and the
//! well-formed rate.
//!
//! ```no_run
//! # async fn demo(item: &rotor::suite::SuiteItem, answer: &str) {
//! use rotor::validate::{Validator, ValidatorConfig};
//! let validator = Validator::new(ValidatorConfig::with_suite_timeout(Some(5.0))).await;
//! for note in validator.notes() {
//!     eprintln!("note: {note}");
//! }
//! match validator.validate(item, answer).await {
//!     Ok(r) => println!("{} {} ({:.0} ms, {})", r.verdict, r.detail, r.duration_ms, r.isolation),
//!     Err(skipped) => eprintln!("not validated: {skipped}"),
//! }
//! # }
//! ```
//!
//! The harness is not hardened against an answer that deliberately forges its
//! own result (it runs in the answer's interpreter): the sandbox contains what
//! an answer can do to the host; the verdict measures honest attempts.

pub mod cache;
pub mod extract;
pub mod isolation;
mod javascript;
pub mod pool;
mod python;
mod runner;
pub mod sandbox;
pub mod score;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use cache::CachedValidator;
pub use extract::{Extracted, extract};
pub use isolation::Isolation;
pub use pool::{Availability, Validator, ValidatorConfig};

/// How long a validation may run unless the item or the suite says otherwise.
pub const DEFAULT_TIMEOUT_S: f64 = 5.0;

/// The longest detail a [`ValidationResult`] carries, in characters.
pub const DETAIL_MAX_CHARS: usize = 200;

/// The languages rotor can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Python,
    JavaScript,
}

impl Language {
    /// The language a suite item names (`python`, `py`, `python3`;
    /// `javascript`, `js`, `node`), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "python" | "python3" | "py" | "py3" => Some(Self::Python),
            "javascript" | "js" | "node" | "nodejs" => Some(Self::JavaScript),
            _ => None,
        }
    }

    /// The canonical name (`python`, `javascript`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::JavaScript => "javascript",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of validating one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every test passed.
    Passed,
    /// No code of the item's language could be found in the answer.
    NoCode,
    /// The code does not compile; detail: the line and the error.
    SyntaxError,
    /// A test failed; detail: the first failing test and why.
    TestsFailed,
    /// The wall-clock or CPU time limit ran out.
    Timeout,
    /// The code died: an error while loading, a signal, the memory limit,
    /// the output limit, an exit without a result.
    Crashed,
}

impl Verdict {
    /// All verdicts, in declaration order.
    pub const ALL: [Verdict; 6] = [
        Self::Passed,
        Self::NoCode,
        Self::SyntaxError,
        Self::TestsFailed,
        Self::Timeout,
        Self::Crashed,
    ];

    /// The snake_case name used in records (`passed`, `no_code`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::NoCode => "no_code",
            Self::SyntaxError => "syntax_error",
            Self::TestsFailed => "tests_failed",
            Self::Timeout => "timeout",
            Self::Crashed => "crashed",
        }
    }

    /// Whether the answer contained extractable code (everything but `no_code`).
    pub fn has_code(self) -> bool {
        self != Self::NoCode
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Validator::validate`] reports for one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationResult {
    pub verdict: Verdict,
    /// A short, single-line explanation (at most [`DETAIL_MAX_CHARS`]); empty
    /// when there is nothing to add.
    pub detail: String,
    /// Wall-clock time of the validation from the moment it had a sandbox slot
    /// (writing files, running, cleaning up); for `no_code`, the extraction.
    pub duration_ms: f64,
    /// The isolation the sandbox had (all false when no sandbox ran).
    pub isolation: Isolation,
}

/// Why an answer could not be validated at all (not the answer's fault).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("item {item}: language '{language}' is not supported (python, javascript)")]
    UnsupportedLanguage { item: String, language: String },
    #[error("item {item}: {language} validation is unavailable: {reason}")]
    Unavailable {
        item: String,
        language: Language,
        reason: String,
    },
    #[error("item {item}: entry point '{entry_point}' is not an identifier")]
    BadEntryPoint { item: String, entry_point: String },
    #[error("item {item}: sandbox failure while {action}: {source}")]
    Sandbox {
        item: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// One line, control characters replaced, at most [`DETAIL_MAX_CHARS`]
/// characters (an ellipsis marks a cut).
pub fn short_detail(text: &str) -> String {
    let mut one_line = String::with_capacity(text.len().min(DETAIL_MAX_CHARS * 4));
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        one_line.push(c);
    }
    let trimmed = one_line.trim_end();
    if trimmed.chars().count() <= DETAIL_MAX_CHARS {
        return trimmed.to_string();
    }
    let mut cut: String = trimmed.chars().take(DETAIL_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Whether `name` is a plain identifier (ASCII letters, digits, `_`, `$`;
/// not starting with a digit) — entry points are spliced into harness code.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_match_serde() {
        for v in Verdict::ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
        }
        assert!(!Verdict::NoCode.has_code());
        assert!(Verdict::Crashed.has_code());
    }

    #[test]
    fn languages_by_name() {
        assert_eq!(Language::from_name("Python3"), Some(Language::Python));
        assert_eq!(Language::from_name("js"), Some(Language::JavaScript));
        assert_eq!(Language::from_name("rust"), None);
    }

    #[test]
    fn short_detail_is_one_bounded_line() {
        assert_eq!(short_detail("a\n\tb\r\n  c  "), "a b c");
        let long = "é".repeat(500);
        let d = short_detail(&long);
        assert_eq!(d.chars().count(), DETAIL_MAX_CHARS);
        assert!(d.ends_with('…'));
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("add_two"));
        assert!(is_identifier("_x$1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("x;import os"));
    }
}
