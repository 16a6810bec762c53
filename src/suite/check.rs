//! Parsing and validation of suite files.
//!
//! Like the registry, the text is parsed into the public types (strict) and into the
//! lenient `*Locs` mirrors that keep the location of each value a check points at.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{KNOWN_LANGUAGES, Suite, SuiteItem};
use crate::diag::{self, LoadError, Pos};

const KEY_HINTS: &[(&str, &str)] = &[
    ("timeout_s", "a number of seconds, e.g. 10"),
    ("max_tokens", "a whole number of tokens, e.g. 1024"),
    (
        "tests",
        "a list of test statements, one per '- ' line (use '- |' for several lines)",
    ),
    ("tags", "a list of words, e.g. [parsing, strings]"),
];

/// The longest validation timeout accepted, in seconds.
const MAX_TIMEOUT_S: f64 = 3600.0;

#[derive(Deserialize)]
struct SuiteLocs {
    name: Spanned<String>,
    #[serde(default)]
    timeout_s: Option<Spanned<f64>>,
    #[serde(default)]
    max_tokens: Option<Spanned<u32>>,
    items: Spanned<Vec<ItemLocs>>,
}

#[derive(Deserialize)]
struct ItemLocs {
    id: Spanned<String>,
    language: Spanned<String>,
    prompt: Spanned<String>,
    entry_point: Spanned<String>,
    tests: Spanned<Vec<Spanned<String>>>,
    reference: Spanned<String>,
    broken: Spanned<String>,
    #[serde(default)]
    timeout_s: Option<Spanned<f64>>,
    #[serde(default)]
    max_tokens: Option<Spanned<u32>>,
}

/// Parses and validates suite text.
pub(super) fn parse(text: &str, path: &Path) -> Result<Suite, LoadError> {
    let empty_hint = "a suite needs 'name:' and 'items:'; \
                      see fixtures/suites/codegen.yaml for an example";
    let mut suite: Suite = diag::parse_yaml_with_hints(text, path, KEY_HINTS)
        .map_err(|e| e.with_empty_hint(empty_hint))?;
    let locs: SuiteLocs = diag::parse_yaml_with_hints(text, path, KEY_HINTS)?;
    check(&suite, &locs, path)?;
    suite.source = path.to_path_buf();
    Ok(suite)
}

fn check(suite: &Suite, locs: &SuiteLocs, path: &Path) -> Result<(), LoadError> {
    let err = |at: Option<Pos>, what: String, hint: &str| LoadError::at_pos(path, at, what, hint);
    if suite.name.trim().is_empty() {
        return Err(err(
            Pos::of_spanned(&locs.name),
            "the suite's name is empty".into(),
            "give the suite a short name, e.g. codegen",
        ));
    }
    check_limits(
        locs.timeout_s.as_ref(),
        locs.max_tokens.as_ref(),
        "suite",
        path,
    )?;
    if suite.items.is_empty() {
        return Err(err(
            Pos::of_spanned(&locs.items),
            "the suite has no items".into(),
            "add at least one item with id, language, prompt, entry_point, tests, \
             reference and broken",
        ));
    }
    let mut ids: HashMap<&str, Option<Pos>> = HashMap::new();
    let mut prompts: HashMap<&str, &str> = HashMap::new();
    for (item, loc) in suite.items.iter().zip(&locs.items.value) {
        let id = item.id.as_str();
        let at_id = Pos::of_spanned(&loc.id);
        if !is_item_id(id) {
            return Err(err(
                at_id,
                format!("item id '{}' is not a valid id", id.escape_debug()),
                "use letters, digits, '-', '_' or '.', e.g. parse-duration",
            ));
        }
        if let Some(first) = ids.insert(id, at_id) {
            let first = first
                .map(|p| format!(" (first at {p})"))
                .unwrap_or_default();
            return Err(err(
                at_id,
                format!("duplicate item id '{id}'{first}"),
                "give every item its own id",
            ));
        }
        check_item(item, loc, path)?;
        // The simulator recognises an item by its prompt: prompts must differ.
        if let Some(other) = prompts.insert(item.prompt.trim(), id) {
            return Err(err(
                Pos::of_spanned(&loc.prompt),
                format!("item '{id}' has the same prompt as item '{other}'"),
                "give every item its own prompt",
            ));
        }
    }
    Ok(())
}

fn check_item(item: &SuiteItem, loc: &ItemLocs, path: &Path) -> Result<(), LoadError> {
    let id = &item.id;
    let err = |at: Option<Pos>, what: String, hint: String| LoadError::at_pos(path, at, what, hint);
    if !KNOWN_LANGUAGES.contains(&item.language.as_str()) {
        return Err(err(
            Pos::of_spanned(&loc.language),
            format!(
                "item '{id}': unknown language '{}'",
                item.language.escape_debug()
            ),
            format!("use one of: {}", KNOWN_LANGUAGES.join(", ")),
        ));
    }
    for (name, text, at) in [
        ("prompt", &item.prompt, &loc.prompt),
        ("reference", &item.reference, &loc.reference),
        ("broken", &item.broken, &loc.broken),
    ] {
        if text.trim().is_empty() {
            return Err(err(
                Pos::of_spanned(at),
                format!("item '{id}': {name} is empty"),
                format!("write the {name} (use '{name}: |' and indent the lines under it)"),
            ));
        }
    }
    if item.tests.is_empty() {
        return Err(err(
            Pos::of_spanned(&loc.tests),
            format!("item '{id}': no tests"),
            "add test statements, e.g. - assert f(1) == 2".into(),
        ));
    }
    for (test, at) in item.tests.iter().zip(&loc.tests.value) {
        if test.trim().is_empty() {
            return Err(err(
                Pos::of_spanned(at),
                format!("item '{id}': an empty test"),
                "remove the empty entry, or write a test statement".into(),
            ));
        }
    }
    let entry = item.entry_point.as_str();
    if !is_identifier(entry) {
        return Err(err(
            Pos::of_spanned(&loc.entry_point),
            format!(
                "item '{id}': entry_point '{}' is not an identifier",
                entry.escape_debug()
            ),
            "name the function or class the tests call, e.g. parse_duration".into(),
        ));
    }
    for (name, code, at) in [
        ("reference", &item.reference, &loc.reference),
        ("broken", &item.broken, &loc.broken),
    ] {
        if !defines(&item.language, code, entry) {
            return Err(err(
                Pos::of_spanned(at),
                format!("item '{id}': the {name} does not define '{entry}'"),
                definition_hint(&item.language, entry),
            ));
        }
    }
    if item.reference.trim() == item.broken.trim() {
        return Err(err(
            Pos::of_spanned(&loc.broken),
            format!("item '{id}': broken is the same as the reference"),
            "make broken a plausible wrong solution (an off-by-one, a missed edge case) \
             that fails at least one test"
                .into(),
        ));
    }
    check_limits(
        loc.timeout_s.as_ref(),
        loc.max_tokens.as_ref(),
        &format!("item '{id}'"),
        path,
    )
}

fn check_limits(
    timeout_s: Option<&Spanned<f64>>,
    max_tokens: Option<&Spanned<u32>>,
    owner: &str,
    path: &Path,
) -> Result<(), LoadError> {
    if let Some(t) = timeout_s.filter(|t| !(t.value > 0.0 && t.value <= MAX_TIMEOUT_S)) {
        return Err(LoadError::at_spanned(
            path,
            t,
            format!("{owner}: timeout_s {} is not a positive duration", t.value),
            format!("give the seconds a validation run may take: above 0, at most {MAX_TIMEOUT_S}"),
        ));
    }
    if let Some(m) = max_tokens.filter(|m| m.value == 0) {
        return Err(LoadError::at_spanned(
            path,
            m,
            format!("{owner}: max_tokens is 0"),
            "give the largest answer length in tokens, e.g. 1024, or remove the field",
        ));
    }
    Ok(())
}

/// Whether `code` defines `name` at top level, in the way `language` does it.
fn defines(language: &str, code: &str, name: &str) -> bool {
    code.lines().any(|line| match language {
        "python" => {
            let l = line.strip_prefix("async ").unwrap_or(line);
            followed_by(l, "def ", name, &['(']) || followed_by(l, "class ", name, &['(', ':'])
        }
        "javascript" => {
            let l = line.strip_prefix("export ").unwrap_or(line);
            let l = l.strip_prefix("async ").unwrap_or(l);
            followed_by(l, "function ", name, &['(', ' '])
                || followed_by(l, "class ", name, &[' ', '{'])
                || ["const ", "let ", "var "]
                    .iter()
                    .any(|kw| followed_by(l, kw, name, &[' ', '=']))
        }
        _ => false,
    })
}

/// `line` is `keyword name` followed by one of `next` (spaces after the name allowed
/// before it).
fn followed_by(line: &str, keyword: &str, name: &str, next: &[char]) -> bool {
    line.strip_prefix(keyword)
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| {
            let rest_trimmed = rest.trim_start();
            next.iter()
                .any(|c| rest.starts_with(*c) || rest_trimmed.starts_with(*c))
        })
}

fn definition_hint(language: &str, entry: &str) -> String {
    match language {
        "python" => format!(
            "define it at top level as 'def {entry}(...)' or 'class {entry}', or fix entry_point"
        ),
        _ => format!(
            "define it at top level as 'function {entry}(...)', 'class {entry}' or \
             'const {entry} = ...', or fix entry_point"
        ),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_item_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_definitions_are_found_at_top_level_only() {
        assert!(defines("python", "def f(x):\n    return x\n", "f"));
        assert!(defines("python", "import os\n\nasync def f (x): pass", "f"));
        assert!(defines("python", "class Cache:\n    pass", "Cache"));
        assert!(defines("python", "class Cache(object):\n    pass", "Cache"));
        assert!(!defines("python", "def fx(x): pass", "f"));
        assert!(!defines("python", "class A:\n    def f(self): pass", "f"));
        assert!(!defines("python", "# def f(x)", "f"));
    }

    #[test]
    fn javascript_definitions() {
        assert!(defines(
            "javascript",
            "function add(a, b) { return a + b; }",
            "add"
        ));
        assert!(defines(
            "javascript",
            "export const add = (a, b) => a + b;",
            "add"
        ));
        assert!(defines("javascript", "class Stack {}", "Stack"));
        assert!(!defines("javascript", "const adder = 1;", "add"));
    }

    #[test]
    fn ids_and_identifiers() {
        assert!(is_item_id("parse-duration"));
        assert!(is_item_id("task_1.v2"));
        assert!(!is_item_id("has space"));
        assert!(!is_item_id(""));
        assert!(is_identifier("_private9"));
        assert!(!is_identifier("9lives"));
        assert!(!is_identifier("a-b"));
    }
}
