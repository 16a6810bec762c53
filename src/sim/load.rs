//! Reading scenario files: parse, validate, and say where and how to fix what
//! is wrong ("path:line:col: what\n  hint: how").

mod syntax;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use crate::diag::escape_controls;
use crate::sim::scenario::{ModelDefaults, ModelSelector, ModelSpec, Quality, Scenario};

/// The scenarios built into the binary, by name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "free-tier",
        include_str!("../../fixtures/scenarios/free-tier.yaml"),
    ),
    ("storm", include_str!("../../fixtures/scenarios/storm.yaml")),
    (
        "outage",
        include_str!("../../fixtures/scenarios/outage.yaml"),
    ),
    (
        "flaky-streams",
        include_str!("../../fixtures/scenarios/flaky-streams.yaml"),
    ),
    (
        "all-outcomes",
        include_str!("../../fixtures/scenarios/all-outcomes.yaml"),
    ),
    (
        "sdk-check",
        include_str!("../../fixtures/scenarios/sdk-check.yaml"),
    ),
    (
        "hostile",
        include_str!("../../fixtures/scenarios/hostile.yaml"),
    ),
    (
        "validation",
        include_str!("../../fixtures/scenarios/validation.yaml"),
    ),
    // rotate-test's CI scenarios.
    (
        "ci-storm",
        include_str!("../../fixtures/scenarios/ci-storm.yaml"),
    ),
    (
        "ci-account-limit",
        include_str!("../../fixtures/scenarios/ci-account-limit.yaml"),
    ),
    (
        "ci-daily-quota",
        include_str!("../../fixtures/scenarios/ci-daily-quota.yaml"),
    ),
    (
        "ci-outage",
        include_str!("../../fixtures/scenarios/ci-outage.yaml"),
    ),
    (
        "ci-slow",
        include_str!("../../fixtures/scenarios/ci-slow.yaml"),
    ),
    (
        "ci-upstream",
        include_str!("../../fixtures/scenarios/ci-upstream.yaml"),
    ),
    // bench/policies.sh's scenarios where the policy decides.
    (
        "ci-intermittent-storm",
        include_str!("../../fixtures/scenarios/ci-intermittent-storm.yaml"),
    ),
    (
        "ci-flaky-primary",
        include_str!("../../fixtures/scenarios/ci-flaky-primary.yaml"),
    ),
];

const EMBEDDED_NAMES: &[&str] = &[
    "free-tier",
    "storm",
    "outage",
    "flaky-streams",
    "all-outcomes",
    "sdk-check",
    "hostile",
    "validation",
    "ci-storm",
    "ci-account-limit",
    "ci-daily-quota",
    "ci-outage",
    "ci-slow",
    "ci-upstream",
    "ci-intermittent-storm",
    "ci-flaky-primary",
];

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "{path}: cannot read the scenario: {source}\n  hint: check the path, or use an embedded scenario ({names})",
        path = path.display(),
        names = EMBEDDED_NAMES.join(", ")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or a value has the wrong shape or type.
    #[error("{}", render(origin, *line, *column, message, hint))]
    Syntax {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
        hint: String,
    },
    /// The YAML is well formed but a value is out of range or inconsistent.
    #[error("{}", render(origin, *line, *column, message, hint))]
    Invalid {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
        hint: String,
    },
}

fn render(
    origin: &str,
    line: Option<u64>,
    column: Option<u64>,
    message: &str,
    hint: &str,
) -> String {
    let place = match (line, column) {
        (Some(l), Some(c)) => format!("{origin}:{l}:{c}"),
        (Some(l), None) => format!("{origin}:{l}"),
        _ => origin.to_owned(),
    };
    format!("{place}: {message}\n  hint: {hint}")
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Scenario::from_str(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text; `origin` names it in errors.
    pub fn from_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            serde_saphyr::from_str(text).map_err(|e| syntax::syntax_error(&e, origin))?;
        let spans: Spans = serde_saphyr::from_str(text).unwrap_or_default();
        scenario.check(origin, &spans)?;
        Ok(scenario)
    }

    /// A scenario built into the binary (`free-tier`, `storm`, ...).
    pub fn embedded(name: &str) -> Option<Scenario> {
        let name = name.strip_suffix(".yaml").unwrap_or(name);
        let (_, text) = EMBEDDED.iter().find(|(n, _)| *n == name)?;
        Scenario::from_str(text, &format!("embedded:{name}")).ok()
    }

    /// The names [`Scenario::embedded`] knows.
    pub fn embedded_names() -> &'static [&'static str] {
        EMBEDDED_NAMES
    }

    /// Validates a scenario built in code (files are validated on load).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.check(&format!("scenario {}", self.name), &Spans::default())
    }
}

/// Locations of the list items and top-level values, for validation messages.
#[derive(Default, Deserialize)]
struct Spans {
    #[serde(default)]
    time_scale: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    groups: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    models: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    phases: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    defaults: Option<Spanned<IgnoredAny>>,
}

type Loc = Option<(u64, u64)>;

fn loc(s: Option<&Spanned<IgnoredAny>>) -> Loc {
    s.map(|s| (s.referenced.line(), s.referenced.column()))
        .filter(|(l, _)| *l > 0)
}

impl Scenario {
    fn check(&self, origin: &str, spans: &Spans) -> Result<(), ScenarioError> {
        // Messages quote ids and names from the file: escape control characters.
        let fail = |at: Loc, message: String, hint: &str| ScenarioError::Invalid {
            origin: origin.to_owned(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            message: escape_controls(message),
            hint: hint.to_owned(),
        };
        if self.name.trim().is_empty() {
            return Err(fail(
                None,
                "`name` is empty".into(),
                "give the scenario a short name",
            ));
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1000.0) {
            return Err(fail(
                loc(spans.time_scale.as_ref()),
                format!("time_scale {} is not within (0, 1000]", self.time_scale),
                "1 is real time, 0.02 runs fifty times faster",
            ));
        }
        if self.models.is_empty() {
            return Err(fail(
                None,
                "no models".into(),
                "add at least one entry under `models`",
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, m) in self.models.iter().enumerate() {
            let at = loc(spans.models.get(i));
            if m.id.trim().is_empty() {
                return Err(fail(
                    at,
                    "model id is empty".into(),
                    "use the provider's model id",
                ));
            }
            if let Some(first) = seen.insert(m.id.as_str(), i) {
                let first_at = loc(spans.models.get(first))
                    .map(|(l, c)| format!(" (first at {l}:{c})"))
                    .unwrap_or_default();
                return Err(fail(
                    at,
                    format!("duplicate model id '{}'{first_at}", m.id),
                    "each model may appear once; remove or rename one",
                ));
            }
            check_model(m).map_err(|msg| {
                fail(
                    at,
                    format!("model '{}': {msg}", m.id),
                    "fix the value or remove it to use the default",
                )
            })?;
        }
        check_defaults(&self.defaults).map_err(|msg| {
            fail(
                loc(spans.defaults.as_ref()),
                format!("defaults: {msg}"),
                "fix the value or remove it",
            )
        })?;
        if let Some(url) = &self.redirect_to {
            check_redirect(url).map_err(|msg| {
                fail(
                    None,
                    format!("redirect_to '{url}': {msg}"),
                    "an absolute URL on another host, e.g. http://127.0.0.2:9/v1/chat/completions",
                )
            })?;
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = loc(spans.groups.get(i));
            if g.name.trim().is_empty() || names.insert(g.name.as_str(), i).is_some() {
                return Err(fail(
                    at,
                    format!("group name '{}' is empty or used twice", g.name),
                    "give each group its own name",
                ));
            }
            if let Some(unknown) = g.models.iter().find(|id| !seen.contains_key(id.as_str())) {
                return Err(fail(
                    at,
                    format!("group '{}' names unknown model '{unknown}'", g.name),
                    "list only ids defined under `models`",
                ));
            }
            if g.match_suffix.as_deref().is_some_and(|s| s.is_empty()) {
                return Err(fail(
                    at,
                    format!("group '{}': empty `match`", g.name),
                    "use a suffix such as \":free\"",
                ));
            }
            if g.per_minute == Some(0) || g.per_day == Some(0) {
                return Err(fail(
                    at,
                    format!("group '{}': a limit of 0 would reject everything", g.name),
                    "omit the limit for no limit",
                ));
            }
        }
        for (i, p) in self.phases.iter().enumerate() {
            let at = loc(spans.phases.get(i));
            if !(p.from_s.is_finite() && p.to_s.is_finite() && p.from_s >= 0.0 && p.from_s < p.to_s)
            {
                return Err(fail(
                    at,
                    format!(
                        "phase from_s {} to_s {} is not an interval",
                        p.from_s, p.to_s
                    ),
                    "scenario seconds since start, 0 <= from_s < to_s",
                ));
            }
            if !(p.probability.is_finite() && (0.0..=1.0).contains(&p.probability)) {
                return Err(fail(
                    at,
                    format!("phase probability {} is not within 0..=1", p.probability),
                    "1 = every request",
                ));
            }
            if let ModelSelector::Only(ids) = &p.models
                && let Some(unknown) = ids.iter().find(|id| !seen.contains_key(id.as_str()))
            {
                return Err(fail(
                    at,
                    format!("phase names unknown model '{unknown}'"),
                    "list ids defined under `models`, or write `models: all`",
                ));
            }
        }
        Ok(())
    }
}

fn check_redirect(url: &str) -> Result<(), String> {
    let uri: axum::http::Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err("not an absolute http(s) URL".into()),
    }
}

fn check_model(m: &ModelSpec) -> Result<(), String> {
    if m.rpm == Some(0) {
        return Err("rpm 0 would reject everything; omit it for no limit".into());
    }
    if m.burst == Some(0) {
        return Err("burst must be at least 1".into());
    }
    check_defaults(&ModelDefaults {
        context_length: m.context_length,
        ttft_ms: m.ttft_ms,
        tokens_per_s: m.tokens_per_s,
        output_tokens: m.output_tokens,
        reasoning_tokens: m.reasoning_tokens,
        keepalive_ms: m.keepalive_ms,
        quality: m.quality,
        faults: m.faults,
    })
}

fn check_defaults(d: &ModelDefaults) -> Result<(), String> {
    if d.context_length == Some(0) {
        return Err("context_length must be positive".into());
    }
    for (name, dist, positive) in [
        ("ttft_ms", d.ttft_ms, false),
        ("tokens_per_s", d.tokens_per_s, true),
        ("output_tokens", d.output_tokens, false),
        ("reasoning_tokens", d.reasoning_tokens, false),
    ] {
        if let Some(dist) = dist {
            dist.check(positive).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    if let Some(k) = d.keepalive_ms
        && !(k.is_finite() && k > 0.0)
    {
        return Err(format!("keepalive_ms {k} must be positive"));
    }
    if let Some(q) = d.quality {
        check_quality(&q)?;
    }
    if let Some(f) = d.faults {
        f.check()?;
    }
    Ok(())
}

fn check_quality(q: &Quality) -> Result<(), String> {
    for (name, w) in [
        ("reference", q.reference),
        ("broken", q.broken),
        ("no_code", q.no_code),
        ("syntax_error", q.syntax_error),
        ("infinite_loop", q.infinite_loop),
        ("crash", q.crash),
    ] {
        if !(w.is_finite() && w >= 0.0) {
            return Err(format!("quality weight {name} = {w} must be >= 0"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Scenario::from_str(text, "s.yaml").unwrap_err().to_string()
    }

    #[test]
    fn every_embedded_scenario_parses() {
        for name in Scenario::embedded_names() {
            let (_, text) = EMBEDDED.iter().find(|(n, _)| n == name).unwrap();
            let s = Scenario::from_str(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&s.name, name);
            assert!(Scenario::embedded(name).is_some());
        }
        assert_eq!(EMBEDDED.len(), EMBEDDED_NAMES.len());
        assert!(Scenario::embedded("nope").is_none());
    }

    #[test]
    fn the_format_reference_names_every_fault() {
        let (_, text) = EMBEDDED.iter().find(|(n, _)| *n == "free-tier").unwrap();
        let comments: String = text.lines().filter(|l| l.starts_with('#')).collect();
        for name in crate::sim::FaultKind::NAMES {
            assert!(
                comments.contains(name),
                "free-tier.yaml does not document {name}"
            );
        }
    }

    #[test]
    fn unknown_field_names_line_column_and_hint() {
        let e = err("name: x\nmodels:\n  - id: a\n    ttft: 5\n");
        assert!(e.starts_with("s.yaml:4:5: "), "{e}");
        assert!(e.contains("ttft"), "{e}");
        assert!(e.contains("\n  hint: "), "{e}");
    }

    #[test]
    fn a_missing_field_gets_a_hint_about_that_field() {
        let e = err("name: x\nmodels:\n  - id: a\n    ttft_ms: {lognormal: {median: 500}}\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("hint: add `p95`: a lognormal needs both"), "{e}");
        let e = err("name: x\nmodels:\n  - rpm: 5\n");
        assert!(
            e.contains("hint: add `id`: every model needs an `id`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_gets_a_hint() {
        let e = err("name: x\nmodels:\n  - id: a\n    rpm: lots\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("hint: a whole number"), "{e}");
    }

    #[test]
    fn duplicate_model_names_both_places() {
        let e = err("name: x\nmodels:\n  - id: a\n  - id: b\n  - id: a\n");
        assert!(e.starts_with("s.yaml:5:"), "{e}");
        assert!(e.contains("duplicate model id 'a' (first at 3:"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_item() {
        let e = err("name: x\nmodels:\n  - id: a\n    faults: {hang: 0.7, payment: 0.6}\n");
        assert!(e.starts_with("s.yaml:3:"), "{e}");
        assert!(e.contains("add up to"), "{e}");
        let e = err("name: x\ntime_scale: 0\nmodels:\n  - id: a\n");
        assert!(e.starts_with("s.yaml:2:"), "{e}");
        let e =
            err("name: x\nmodels:\n  - id: a\nphases:\n  - {from_s: 5, to_s: 1, fault: hang}\n");
        assert!(e.starts_with("s.yaml:5:"), "{e}");
        let e = err("name: x\nmodels:\n  - id: a\ngroups:\n  - {name: g, models: [b]}\n");
        assert!(e.contains("unknown model 'b'"), "{e}");
        let e = err("name: x\nmodels:\n  - id: a\n    ttft_ms: {lognormal: {median: 5, p95: 2}}\n");
        assert!(e.contains("0 < median < p95"), "{e}");
        let e = err("name: x\nredirect_to: /relative\nmodels:\n  - id: a\n");
        assert!(e.contains("redirect_to '/relative'"), "{e}");
        let e = err("name: x\nmodels:\n  - id: a\n    faults: {html_500: 1}\n");
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(
            e.contains("html_502") && e.contains("hint: check the spelling"),
            "{e}"
        );
        let e = err("");
        assert!(e.starts_with("s.yaml"), "{e}");
        assert!(e.contains("hint:"), "{e}");
    }

    // Fuzzing found ids written with YAML escapes ("a\e[31m") quoted raw in
    // validation messages: a scenario file could write terminal sequences.
    #[test]
    fn validation_messages_escape_control_characters() {
        for text in [
            "name: x\nmodels:\n  - id: \"a\\e[31m\"\n  - id: \"a\\e[31m\"\n",
            "name: x\nmodels:\n  - id: a\ngroups:\n  - {name: g, models: [\"b\\r\\nfake\"]}\n",
        ] {
            let e = err(text);
            assert!(!e.contains('\u{1b}') && !e.contains('\r'), "{e:?}");
            assert!(e.contains("\\u{1b}") || e.contains("\\r"), "{e:?}");
        }
    }

    #[test]
    fn unreadable_file_says_what_to_do() {
        let e = Scenario::load(Path::new("/nonexistent/x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/x.yaml: cannot read"), "{e}");
        assert!(e.contains("free-tier"), "{e}");
    }

    #[test]
    fn group_membership_and_limits() {
        let s = Scenario::embedded("free-tier").unwrap();
        assert_eq!(
            s.group_of("meta-llama/llama-4-maverick:free"),
            Some("openrouter")
        );
        assert_eq!(s.group_of("ministral-3:3b"), Some("local"));
        assert_eq!(
            s.group_of("deepseek/deepseek-chat"),
            Some("openrouter-paid")
        );
        let g = s.group_limits("openrouter").unwrap();
        assert_eq!(g.per_minute, Some(20));
        assert_eq!(g.per_day, Some(1000));
        assert_eq!(g.minute, std::time::Duration::from_millis(1200));
        assert!(s.group_limits("nope").is_none());
    }
}
