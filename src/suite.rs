//! Prompt suites: code-generation tasks with tests, a reference solution and a
//! plausible broken one (the simulator answers with these).

mod check;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diag::{self, LoadError};
use crate::wire::Message;

/// The system prompt sent before every item unless the suite sets its own.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a careful programmer. Answer with one fenced code block that contains the complete solution, and nothing else.";

/// Languages a suite item may use (the validator runs `python` today).
pub const KNOWN_LANGUAGES: &[&str] = &["python", "javascript"];

/// Seconds one validation run may take when neither the item nor the suite says.
pub const DEFAULT_TIMEOUT_S: f64 = 10.0;

/// The `source` of the built-in suite.
pub const EMBEDDED_SUITE_SOURCE: &str = "embedded:codegen";

/// The built-in suite (fixtures/suites/codegen.yaml).
const EMBEDDED_CODEGEN: &str = include_str!("../fixtures/suites/codegen.yaml");

/// A loaded, validated suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Sent as the system message before each item's prompt.
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// `max_tokens` for each request unless an item sets its own.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Seconds a validation run of one answer may take unless an item says otherwise.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    pub items: Vec<SuiteItem>,
    /// Where the suite came from (a path, or `embedded:<name>`); not part of the file.
    #[serde(skip)]
    pub source: PathBuf,
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteItem {
    pub id: String,
    /// `python` first; the validator names the languages it runs.
    pub language: String,
    pub prompt: String,
    /// The function (or class) the tests call.
    pub entry_point: String,
    /// Test statements (Python: `assert` lines) run after the answer's code.
    pub tests: Vec<String>,
    /// A correct solution; the simulator sends it, validation must pass it.
    pub reference: String,
    /// A plausible wrong solution; validation must fail it on the tests.
    pub broken: String,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Suite {
    /// Reads and validates a suite file.
    pub fn load(path: &Path) -> Result<Suite, LoadError> {
        let text = diag::read_text(path)?;
        Suite::from_str(&text, path)
    }

    /// Parses and validates suite text; `path` is used in errors and kept as
    /// [`Suite::source`].
    pub fn from_str(text: &str, path: &Path) -> Result<Suite, LoadError> {
        check::parse(text, path)
    }

    /// The built-in code-generation suite (source `embedded:codegen`).
    pub fn embedded_default() -> Result<Suite, LoadError> {
        Suite::from_str(EMBEDDED_CODEGEN, Path::new(EMBEDDED_SUITE_SOURCE))
    }

    /// Seconds a validation run of `item` may take (item, then suite, then the default).
    pub fn timeout_for(&self, item: &SuiteItem) -> f64 {
        item.timeout_s
            .or(self.timeout_s)
            .unwrap_or(DEFAULT_TIMEOUT_S)
    }

    /// `max_tokens` for `item`'s request (item, then suite), if any.
    pub fn max_tokens_for(&self, item: &SuiteItem) -> Option<u32> {
        item.max_tokens.or(self.max_tokens)
    }

    /// The messages of one item's request.
    pub fn messages(&self, item: &SuiteItem) -> Vec<Message> {
        vec![
            Message::system(
                self.system_prompt
                    .as_deref()
                    .unwrap_or(DEFAULT_SYSTEM_PROMPT),
            ),
            Message::user(item.prompt.clone()),
        ]
    }

    /// The item whose prompt is `text` (how the simulator knows what was asked).
    pub fn find_by_prompt(&self, text: &str) -> Option<&SuiteItem> {
        let text = text.trim();
        self.items.iter().find(|i| i.prompt.trim() == text)
    }

    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&SuiteItem> {
        self.items.iter().find(|i| i.id == id)
    }
}
