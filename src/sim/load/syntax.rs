//! A scenario file that is not valid YAML for its shape: where, what, and a
//! hint for the kind of mistake.

use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};

use super::ScenarioError;

pub(super) fn syntax_error(e: &serde_saphyr::Error, origin: &str) -> ScenarioError {
    let message: String = DefaultMessageFormatter
        .format_message(e)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let location = e.location();
    let missing = message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("missing field"));
    let owned_hint;
    let hint = if message.contains("end of") {
        "the file is empty or cut short; a scenario needs at least `name` and `models`"
    } else if message.contains("unknown field") || message.contains("unknown variant") {
        "check the spelling against the names listed; see fixtures/scenarios/free-tier.yaml for every field"
    } else if let Some(field @ ("median" | "p95")) = missing {
        owned_hint = format!(
            "add `{field}`: a lognormal needs both its median and its 95th percentile, e.g. {{lognormal: {{median: 500, p95: 1000}}}}"
        );
        &owned_hint
    } else if let Some(field @ ("id" | "name" | "models")) = missing {
        owned_hint = format!(
            "add `{field}`: every model needs an `id`, every scenario a `name` and `models`"
        );
        &owned_hint
    } else if let Some(field) = missing {
        owned_hint = format!(
            "add `{field}` here; see fixtures/scenarios/free-tier.yaml for every field and an example of each"
        );
        &owned_hint
    } else if message.contains("duplicate") {
        "each key may appear only once in a mapping"
    } else if ["invalid u", "invalid i"]
        .iter()
        .any(|p| message.starts_with(p))
    {
        "a whole number is expected here (limits, rpm, burst, context_length, seed)"
    } else if message.starts_with("invalid f") {
        "a number is expected here (milliseconds, tokens per second, probabilities 0..1)"
    } else if message.starts_with("invalid") || message.contains("expected") {
        "wrong type here: delays are milliseconds, rates numbers, probabilities 0..1, limits whole numbers, distributions `150` or {uniform: [a, b]} or {lognormal: {median: m, p95: p}}"
    } else {
        "see fixtures/scenarios/free-tier.yaml for a complete example"
    };
    ScenarioError::Syntax {
        origin: origin.to_owned(),
        line: location.map(|l| l.line()),
        column: location.map(|l| l.column()),
        message,
        hint: hint.to_owned(),
    }
}
