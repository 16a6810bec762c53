//! Checks shared by the YAML loader targets.

use serde::de::IgnoredAny;

/// Input bytes as loader text: lossy UTF-8, because the loaders take `&str`
/// (`read_text` refuses files that are not UTF-8 before any parsing).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Whether the text is well-formed YAML at all (any shape).
pub fn is_yaml(text: &str) -> bool {
    serde_saphyr::from_str::<IgnoredAny>(text).is_ok()
}

/// The rules every loader error follows: a syntax error carries a location;
/// a location is inside the file; the description holds no control
/// characters (a hostile file must not inject terminal sequences or fake
/// lines); the rendered message names the origin.
pub fn check_error(
    text: &str,
    blank: bool,
    line: Option<u64>,
    what: &str,
    hint: &str,
    rendered: &str,
    origin: &str,
) {
    if !blank && !is_yaml(text) {
        assert!(
            line.is_some(),
            "a YAML syntax error without a location: {rendered}"
        );
    }
    if let Some(l) = line {
        // YAML ends a line at LF, CRLF or a lone CR.
        let lines = text
            .split('\n')
            .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
            .count() as u64;
        assert!(
            l >= 1 && l <= lines + 1,
            "line {l} outside a file of {lines} lines"
        );
    }
    assert!(
        !what.chars().chain(hint.chars()).any(char::is_control),
        "control character in the error: {what:?} / {hint:?}"
    );
    assert!(rendered.starts_with(origin), "{rendered}");
}
