//! A YAML parser's message in plain words, with a hint saying how to fix it.

/// The list after "expected one of " in a serde message, if any.
fn expected_list(message: &str) -> Option<&str> {
    message
        .split_once("expected one of ")
        .map(|(_, list)| list.trim())
}

/// Builds the final message and the hint for a serde-saphyr message.
pub(super) fn explain(
    message: &str,
    key: Option<&str>,
    key_hint: Option<String>,
) -> (String, String) {
    let lower = message.to_ascii_lowercase();
    let with_key = |m: &str| match key {
        Some(k) => format!("{m} for '{k}'"),
        None => m.to_string(),
    };
    if lower.starts_with("unknown field") {
        let hint = match expected_list(message) {
            Some(list) => format!("remove it, or check the spelling (fields: {list})"),
            None => "remove it: this mapping takes no fields".to_string(),
        };
        return (message.to_string(), hint);
    }
    if lower.starts_with("unknown variant") {
        let hint = match expected_list(message) {
            Some(list) => format!("use one of: {list}"),
            None => "check the spelling".to_string(),
        };
        return (with_key(message), key_hint.unwrap_or(hint));
    }
    if lower.starts_with("missing field") {
        let field = message.split('\'').nth(1).unwrap_or("the field");
        return (
            message.to_string(),
            format!("add '{field}:' to this mapping (it is required)"),
        );
    }
    if lower.contains("duplicate mapping key") {
        return (
            message.to_string(),
            "each key may appear only once in a mapping: remove or merge the repeated one"
                .to_string(),
        );
    }
    if lower.contains("found a tab") || lower.contains("tabs ") {
        return (
            message.to_string(),
            "indent with spaces: YAML does not allow tabs for indentation".to_string(),
        );
    }
    let is_number = |prefix: &str| {
        ["u8", "u16", "u32", "u64", "u128", "usize"]
            .iter()
            .any(|t| lower == format!("{prefix} {t}"))
    };
    if is_number("invalid") {
        let hint = key_hint.unwrap_or_else(|| {
            "expected a whole number, not negative and without a decimal point".to_string()
        });
        return (with_key(message), hint);
    }
    if lower.starts_with("invalid i") {
        let hint = key_hint.unwrap_or_else(|| "expected a whole number".to_string());
        return (with_key(message), hint);
    }
    if lower.contains("floating point") || lower.contains("invalid f") {
        let hint = key_hint.unwrap_or_else(|| "expected a number, e.g. 1.5".to_string());
        return (with_key(message), hint);
    }
    if lower.contains("out of range") || lower.contains("invalid bool") {
        let hint = key_hint.unwrap_or_else(|| "check the value's format".to_string());
        return (with_key(message), hint);
    }
    if lower.contains("expected mapping") {
        return (
            message.to_string(),
            key_hint.unwrap_or_else(|| {
                "expected a mapping here ('key: value' lines indented under their parent)"
                    .to_string()
            }),
        );
    }
    if lower.contains("expected sequence") {
        return (
            message.to_string(),
            key_hint.unwrap_or_else(|| {
                "expected a list here ('- item' lines, or [a, b] on one line)".to_string()
            }),
        );
    }
    if lower.contains("end of") || lower.contains("unclosed") {
        return (
            message.to_string(),
            "the document ends too early: look for an unclosed quote or bracket".to_string(),
        );
    }
    (
        with_key(message),
        key_hint.unwrap_or_else(|| {
            "check the YAML syntax here: indentation (spaces), and quotes around values \
             that contain ': ' or ' #'"
                .to_string()
        }),
    )
}
