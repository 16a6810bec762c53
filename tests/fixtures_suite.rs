//! The shipped fixtures (the embedded suite and the repository's registry.yaml) through
//! the public API, the suite's solutions run with python3, and the loaders' error
//! messages for bad files.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rotor::diag::LoadError;
use rotor::registry::{Policy, Registry, Status};
use rotor::suite::Suite;

/// Seed 001's chain, in the seed's order.
const SEED_CHAIN: [&str; 12] = [
    "meta-llama/llama-3.3-8b-instruct:free",
    "cognitivecomputations/dolphin-mistral-24b-venice-edition:free",
    "cognitivecomputations/dolphin3.0-mistral-24b:free",
    "meta-llama/llama-4-maverick:free",
    "meituan/longcat-flash-chat:free",
    "minimax/minimax-m2:free",
    "meta-llama/llama-3.3-70b-instruct:free",
    "deepseek/deepseek-r1-0528-qwen3-8b:free",
    "arliai/qwq-32b-arliai-rpr-v1:free",
    "microsoft/mai-ds-r1:free",
    "google/gemma-2-9b-it:free",
    "deepseek/deepseek-chat-v3.1:free",
];

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---------------------------------------------------------------------------------
// The embedded suite
// ---------------------------------------------------------------------------------

#[test]
fn embedded_suite_has_twelve_or_more_distinct_python_items() {
    let suite = Suite::embedded_default().expect("embedded suite is valid");
    assert_eq!(suite.source, Path::new("embedded:codegen"));
    assert!(suite.items.len() >= 12, "{} items", suite.items.len());
    let ids: HashSet<&str> = suite.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), suite.items.len(), "ids are unique");
    for item in &suite.items {
        let kebab = item.id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
        assert!(kebab, "{} is kebab-case", item.id);
        assert_eq!(item.language, "python", "{}", item.id);
        let asserts = item.tests.iter().filter(|t| t.contains("assert")).count();
        assert!(asserts >= 5, "{} has {asserts} assert entries", item.id);
        assert!(
            item.prompt.contains(&item.entry_point),
            "{} names its entry point",
            item.id
        );
        assert!(item.prompt.len() < 600, "{} prompt is short", item.id);
        assert!(!item.tags.is_empty(), "{} has tags", item.id);
        assert_eq!(
            suite.find_by_prompt(&item.prompt).map(|i| &i.id),
            Some(&item.id)
        );
        assert_eq!(suite.item(&item.id).map(|i| &i.id), Some(&item.id));
        assert_eq!(suite.messages(item).len(), 2);
        assert!(suite.timeout_for(item) > 0.0);
    }
    // The file on disk is the embedded one.
    let on_disk = Suite::load(&repo_file("fixtures/suites/codegen.yaml")).unwrap();
    assert_eq!(on_disk.items, suite.items);
}

/// Runs `python3 -c`-free: writes `code` to a temp dir and runs it with a timeout.
/// Returns (exit success, stderr), or None when it timed out.
fn run_python(code: &str, timeout: Duration) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answer_test.py");
    std::fs::write(&file, code).unwrap();
    let mut child = Command::new("python3")
        .arg("-I")
        .arg(&file)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Some((status.success(), stderr));
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn references_pass_and_broken_solutions_fail_their_tests() {
    if !python3_available() {
        eprintln!("SKIP: python3 is not on PATH; the suite's solutions were not run");
        return;
    }
    let suite = Suite::embedded_default().unwrap();
    let timeout = Duration::from_secs(20);
    for item in &suite.items {
        let tests = item.tests.join("\n");
        let reference = format!("{}\n\n{tests}\n", item.reference);
        let (ok, stderr) = run_python(&reference, timeout)
            .unwrap_or_else(|| panic!("{}: reference timed out", item.id));
        assert!(ok, "{}: reference fails its tests:\n{stderr}", item.id);

        let broken = format!("{}\n\n{tests}\n", item.broken);
        let (ok, stderr) =
            run_python(&broken, timeout).unwrap_or_else(|| panic!("{}: broken timed out", item.id));
        assert!(!ok, "{}: broken passes its tests", item.id);
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("AssertionError"),
            "{}: broken must fail an assert, not crash:\n{stderr}",
            item.id
        );
    }
}

// ---------------------------------------------------------------------------------
// The repository's registry
// ---------------------------------------------------------------------------------

#[test]
fn repo_registry_has_the_seed_chain_in_order() {
    let reg = Registry::load(&repo_file("registry.yaml")).expect("registry.yaml is valid");
    let chain: Vec<&str> = reg.chain().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(chain, SEED_CHAIN);
    assert_eq!(chain[0], "meta-llama/llama-3.3-8b-instruct:free");
    assert!(
        reg.chain()
            .iter()
            .all(|m| m.is_free() && m.status == Status::Verified)
    );
    assert_eq!(reg.rotation.policy, Policy::Adaptive);
    assert_eq!(reg.rotation.max_wait_s, 300.0);
    assert_eq!(reg.rotation.backoff.max_retries, 5);
    assert_eq!(reg.rotation.breaker.failures, 5);
    assert_eq!(reg.ci.min_success_rate, 0.95);

    // The embedded copy is the same file.
    let embedded = Registry::embedded().unwrap();
    assert_eq!(embedded.models, reg.models);
    assert_eq!(embedded.source, Path::new("embedded:registry.yaml"));
}

#[test]
fn repo_registry_lists_every_seed_model_with_sources() {
    let reg = Registry::embedded().unwrap();
    let or = reg.provider("openrouter").unwrap();
    assert_eq!(or.name, "openrouter");
    assert_eq!(or.base_url, "https://openrouter.ai/api/v1");
    assert_eq!(or.api_key_env.as_deref(), Some("OPENROUTER_API_KEY"));
    assert!(or.headers.contains_key("HTTP-Referer") && or.headers.contains_key("X-Title"));
    let limits = or.limits.as_ref().unwrap();
    assert_eq!((limits.per_minute, limits.per_day), (Some(20), Some(50)));
    let local = reg.provider("local").unwrap();
    assert!(local.api_key_env.is_none());
    assert!(local.base_url.starts_with("http://127.0.0.1"));

    let others = [
        "mistralai/mistral-small-3.2-24b-instruct:free",
        "deepseek/deepseek-chat",
        "alibaba/tongyi-deepresearch-30b-a3b:free",
        "moonshotai/kimi-k2:free",
        "nvidia/nemotron-nano-9b-v2:free",
        "shisa-ai/shisa-v2-llama3.3-70b:free",
        "tngtech/deepseek-r1t2-chimera:free",
        "z-ai/glm-4.6:exacto",
        "ministral-3:3b",
    ];
    for id in SEED_CHAIN.iter().chain(&others) {
        let m = reg.model(id).unwrap_or_else(|| panic!("{id} missing"));
        let stats = m
            .stats
            .as_ref()
            .unwrap_or_else(|| panic!("{id} has no source"));
        assert!(stats.source.contains("seed"), "{id}: {}", stats.source);
        assert!(
            stats.p50_ms.is_none() || stats.measured.is_some(),
            "{id} dated"
        );
    }
    let p50 = |id: &str| reg.model(id).unwrap().p50_ms();
    assert_eq!(p50(SEED_CHAIN[0]), Some(880));
    assert_eq!(p50("meta-llama/llama-3.3-70b-instruct:free"), Some(3010));
    assert_eq!(p50("deepseek/deepseek-chat-v3.1:free"), Some(15690));

    let paid = reg.model("deepseek/deepseek-chat").unwrap();
    assert!(!paid.is_free() && paid.status == Status::Candidate);
    assert!(!reg.model("z-ai/glm-4.6:exacto").unwrap().is_free());
    let local_model = reg.model("ministral-3:3b").unwrap();
    assert_eq!(local_model.provider, "local");
    for id in [
        "minimax/minimax-m2:free",
        "deepseek/deepseek-r1-0528-qwen3-8b:free",
        "arliai/qwq-32b-arliai-rpr-v1:free",
        "microsoft/mai-ds-r1:free",
        "tngtech/deepseek-r1t2-chimera:free",
    ] {
        assert!(
            reg.model(id).unwrap().reasoning,
            "{id} is a reasoning model"
        );
    }
    assert!(!reg.model(SEED_CHAIN[0]).unwrap().reasoning);
    assert_eq!(reg.active_models().len(), reg.models.len());

    let tier = |ms| reg.tier_for_latency(ms).map(|t| t.name.as_str());
    assert_eq!(tier(880), Some("tier1"));
    assert_eq!(tier(2000), Some("tier2"));
    assert_eq!(tier(14_999), Some("tier3"));
    assert_eq!(tier(15_000), None);
}

#[test]
fn chain_without_order_is_verified_models_by_tier_then_file_order() {
    let text = format!("{}\n", REGISTRY.replace("  order: [a:free, b:free]\n", ""))
        .replace("status: candidate", "status: verified")
        + "  - {id: c:free, provider: openrouter, status: verified, tier: tier1}\n"
        + "  - {id: d:free, provider: openrouter, status: retired}\n";
    let reg = Registry::from_str(&text, Path::new("r.yaml")).unwrap();
    let chain: Vec<&str> = reg.chain().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(chain, ["a:free", "c:free", "b:free"]);
    assert_eq!(reg.active_models().len(), 3);
    assert_eq!(reg.source, Path::new("r.yaml"));
}

// ---------------------------------------------------------------------------------
// Registry validation errors
// ---------------------------------------------------------------------------------

/// A small valid registry; the cases below change one thing in it.
const REGISTRY: &str = "\
version: 1
providers:
  openrouter:
    kind: openrouter
    base_url: https://openrouter.ai/api/v1
    api_key_env: OPENROUTER_API_KEY
    limits: {per_minute: 20, per_day: 50, applies_to: free}
tiers:
  - {name: tier1, label: ultra-fast, max_p50_ms: 2000}
  - {name: tier2, label: fast, max_p50_ms: 5000}
rotation:
  policy: adaptive
  order: [a:free, b:free]
  backoff: {base_s: 1, cap_s: 60}
ci:
  min_success_rate: 0.95
models:
  - id: a:free
    provider: openrouter
    status: verified
    tier: tier1
    stats: {p50_ms: 880, success_rate: 1.0, measured: 2025-10-25, source: test}
  - id: b:free
    provider: openrouter
    status: candidate
    tier: tier2
";

/// (case, text to replace, replacement, location, part of the message, part of the hint)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn check_cases(
    cases: &[Case],
    base: &str,
    file: &str,
    load: impl Fn(&str) -> Result<(), LoadError>,
) {
    for (name, from, to, at, what, hint) in cases {
        assert_eq!(
            base.matches(from).count(),
            1,
            "{name}: '{from}' must occur once"
        );
        let text = base.replacen(from, to, 1);
        let err = load(&text).expect_err(name);
        let shown = err.to_string();
        assert_eq!(err.location(), format!("{file}:{at}"), "{name}: {shown}");
        assert!(
            shown.starts_with(&format!("{file}:{at}: ")),
            "{name}: {shown}"
        );
        assert!(err.what().contains(what), "{name}: what: {shown}");
        assert!(err.hint().contains(hint), "{name}: hint: {shown}");
        assert!(shown.contains("\n  hint: "), "{name}: {shown}");
    }
}

#[test]
fn registry_base_snippet_is_valid() {
    let reg = Registry::from_str(REGISTRY, Path::new("r.yaml")).unwrap();
    assert_eq!(reg.chain().len(), 2);
}

#[test]
fn registry_errors_point_at_the_place_and_say_how_to_fix_it() {
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("unknown field", "    tier: tier1\n", "    tier: tier1\n    colour: red\n", "22:5", "unknown field 'colour'", "fields: id, provider, status"),
        ("unknown top-level field", "ci:\n", "cii:\n", "15:1", "unknown field 'cii'", "remove it, or check the spelling"),
        ("duplicate model", "  - id: b:free", "  - id: a:free", "23:9", "duplicate model 'a:free' (first at 18:9)", "list each model once"),
        ("unknown provider", "provider: openrouter\n    status: candidate", "provider: openruter\n    status: candidate", "24:15", "unknown provider 'openruter'", "openrouter"),
        ("unknown tier", "tier: tier2\n", "tier: tier9\n", "26:11", "unknown tier 'tier9'", "tier1, tier2"),
        ("active model without tier", "    tier: tier2\n", "", "25:13", "has no tier", "add 'tier:'"),
        ("order names unknown model", "[a:free, b:free]", "[a:free, c:free]", "13:19", "unknown model 'c:free'", "add the model under 'models:'"),
        ("order names retired model", "status: candidate", "status: retired", "13:19", "which is retired", "remove it from the chain"),
        ("order names a model twice", "[a:free, b:free]", "[a:free, a:free]", "13:19", "'a:free' twice (first at 13:11)", "once"),
        ("success rate above 1", "success_rate: 1.0", "success_rate: 1.5", "22:40", "success_rate 1.5 is outside 0..1", "0.95"),
        ("zero duration", "base_s: 1,", "base_s: 0,", "14:21", "base_s 0 is not a positive duration", "seconds above 0"),
        ("negative duration", "base_s: 1,", "base_s: -2,", "14:21", "is not a positive duration", "seconds above 0"),
        ("cap below base", "cap_s: 60", "cap_s: 0.5", "14:31", "cap_s 0.5 is below base_s 1", "at least base_s"),
        ("base_url not http", "https://openrouter.ai/api/v1", "ftp://openrouter.ai", "5:15", "base_url must be an http(s) URL", "https://"),
        ("per_minute zero", "per_minute: 20", "per_minute: 0", "7:26", "limits.per_minute is 0", "at least 1"),
        ("tiers not ascending", "max_p50_ms: 5000", "max_p50_ms: 1500", "10:44", "not above the previous tier's 2000", "fastest first"),
        ("duplicate tier", "name: tier2", "name: tier1", "10:12", "duplicate tier 'tier1' (first at 9:12)", "own name"),
        ("unknown policy", "policy: adaptive", "policy: fastest", "12:11", "unknown variant 'fastest'", "adaptive, fallback-first, wait-first"),
        ("unknown status", "status: candidate", "status: maybe", "25:13", "unknown variant 'maybe'", "verified, candidate, incompatible, retired"),
        ("wrong type for p50", "p50_ms: 880", "p50_ms: fast", "22:21", "invalid u64 for 'p50_ms'", "whole number of milliseconds"),
        ("negative p50", "p50_ms: 880", "p50_ms: -1", "22:21", "for 'p50_ms'", "whole number of milliseconds"),
        ("bad date", "2025-10-25", "2025-13-01", "22:55", "for 'measured'", "YYYY-MM-DD"),
        ("unsupported version", "version: 1", "version: 2", "1:10", "unsupported registry version 2", "version: 1"),
        ("authorization header", "    limits:", "    headers: {Authorization: Bearer x}\n    limits:", "7:30", "Authorization header", "api_key_env"),
        ("rate in ci", "min_success_rate: 0.95", "min_success_rate: 95", "16:21", "min_success_rate 95 is outside 0..1", "0.95"),
        ("duplicate key", "  policy: adaptive\n", "  policy: adaptive\n  policy: wait-first\n", "13:3", "duplicate mapping key", "only once"),
        ("bad day_reset", "applies_to: free}", "applies_to: free, day_reset: 24h}", "7:72", "invalid day_reset '24h'", "\"HH:MMZ\""),
        ("unknown limit scope", "applies_to: free}", "applies_to: paid}", "7:55", "unknown variant 'paid'", "'free'"),
        ("tab indentation", "ci:\n  min", "ci:\n\tmin", "16:2", "tab", "spaces"),
        ("tab after a scalar", "a:free\n    provider", "a:free\n\tprovider", "19:1", "found a tab", "spaces"),
    ];
    check_cases(cases, REGISTRY, "registry.yaml", |text| {
        Registry::from_str(text, Path::new("registry.yaml")).map(drop)
    });
}

#[test]
fn a_key_pasted_as_api_key_env_is_rejected_without_echoing_it() {
    let key = "sk-or-v1-0123456789abcdef0123456789abcdef";
    let text = REGISTRY.replace("OPENROUTER_API_KEY", key);
    let err = Registry::from_str(&text, Path::new("r.yaml")).unwrap_err();
    assert_eq!(err.location(), "r.yaml:6:18");
    assert!(err.hint().contains("never the key itself"), "{err}");
    assert!(
        !format!("{err} {err:?}").contains(key),
        "the key leaked: {err}"
    );
}

#[test]
fn empty_and_missing_registry_files_say_so() {
    let err = Registry::from_str("# nothing yet\n", Path::new("r.yaml")).unwrap_err();
    assert!(matches!(err, LoadError::Empty { .. }), "{err}");
    assert!(
        err.to_string().starts_with("r.yaml: the file is empty"),
        "{err}"
    );
    assert!(err.hint().contains("README"), "{err}");

    let no_models = REGISTRY
        .split("models:")
        .next()
        .unwrap()
        .replace("  order: [a:free, b:free]\n", "");
    let err =
        Registry::from_str(&format!("{no_models}models: []\n"), Path::new("r.yaml")).unwrap_err();
    assert_eq!(err.location(), "r.yaml:16:9", "{err}");
    assert!(err.what().contains("no models"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("registry.yaml");
    let err = Registry::load(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------
// Suite validation errors
// ---------------------------------------------------------------------------------

const SUITE: &str = "\
name: t
items:
  - id: one
    language: python
    prompt: Write f(x) returning x plus one.
    entry_point: f
    tests:
      - assert f(1) == 2
    reference: |
      def f(x):
          return x + 1
    broken: |
      def f(x):
          return x
";

const SECOND_ITEM: &str = "  - id: two
    language: python
    prompt: Write g(x) returning twice x.
    entry_point: g
    tests: [assert g(2) == 4]
    reference: 'def g(x): return 2 * x'
    broken: 'def g(x): return x + 2'
";

#[test]
fn suite_base_snippet_is_valid() {
    let text = format!("{SUITE}{SECOND_ITEM}");
    let suite = Suite::from_str(&text, Path::new("s.yaml")).unwrap();
    assert_eq!(suite.items.len(), 2);
    assert_eq!(suite.source, Path::new("s.yaml"));
}

#[test]
fn suite_errors_point_at_the_place_and_say_how_to_fix_it() {
    let base = format!("{SUITE}{SECOND_ITEM}");
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("unknown field", "    entry_point: f\n", "    entry_point: f\n    answer: x\n", "7:5", "unknown field 'answer'", "fields: id, language, prompt"),
        ("duplicate id", "- id: two", "- id: one", "15:9", "duplicate item id 'one' (first at 3:9)", "own id"),
        ("same prompt", "Write g(x) returning twice x.", "Write f(x) returning x plus one.", "17:13", "same prompt as item 'one'", "own prompt"),
        ("empty prompt", "prompt: Write f(x) returning x plus one.", "prompt: ''", "5:13", "prompt is empty", "prompt: |"),
        ("no tests", "tests: [assert g(2) == 4]", "tests: []", "19:12", "no tests", "assert"),
        ("empty test", "tests: [assert g(2) == 4]", "tests: [assert g(2) == 4, '  ']", "19:31", "an empty test", "remove the empty entry"),
        ("empty reference", "reference: 'def g(x): return 2 * x'", "reference: ''", "20:16", "reference is empty", "reference: |"),
        ("empty broken", "broken: 'def g(x): return x + 2'", "broken: \"\"", "21:13", "broken is empty", "broken: |"),
        ("unknown language", "language: python\n    prompt: Write g", "language: rust\n    prompt: Write g", "16:15", "unknown language 'rust'", "python, javascript"),
        ("entry point not defined", "entry_point: g", "entry_point: h", "20:16", "the reference does not define 'h'", "def h("),
        ("entry point not an identifier", "entry_point: g", "entry_point: g()", "18:18", "is not an identifier", "name the function"),
        ("broken same as reference", "'def g(x): return x + 2'", "'def g(x): return 2 * x'", "21:13", "broken is the same as the reference", "plausible wrong solution"),
        ("zero timeout", "name: t\n", "name: t\ntimeout_s: 0\n", "2:12", "timeout_s 0 is not a positive duration", "above 0"),
        ("negative item timeout", "    tests: [assert g(2) == 4]\n", "    tests: [assert g(2) == 4]\n    timeout_s: -1\n", "20:16", "item 'two': timeout_s -1", "above 0"),
        ("wrong type", "name: t\n", "name: t\nmax_tokens: lots\n", "2:13", "for 'max_tokens'", "whole number of tokens"),
        ("tests not a list", "tests: [assert g(2) == 4]", "tests: assert g(2) == 4", "19:12", "expected sequence", "'- |'"),
        ("missing field", "    entry_point: g\n", "", "20:5", "missing field 'entry_point'", "add 'entry_point:'"),
    ];
    check_cases(cases, &base, "suite.yaml", |text| {
        Suite::from_str(text, Path::new("suite.yaml")).map(drop)
    });
}

#[test]
fn suite_without_items_or_content() {
    let err = Suite::from_str("name: t\nitems: []\n", Path::new("s.yaml")).unwrap_err();
    assert_eq!(err.location(), "s.yaml:2:8");
    assert!(err.what().contains("no items"), "{err}");
    let err = Suite::from_str("\n\n", Path::new("s.yaml")).unwrap_err();
    assert!(matches!(err, LoadError::Empty { .. }), "{err}");
    assert!(err.hint().contains("codegen.yaml"), "{err}");
    let err = Suite::load(Path::new("/nonexistent/suite.yaml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/suite.yaml"), "{err}");
}

// ---------------------------------------------------------------------------------
// Hostile files: any edit of the shipped files loads or fails cleanly
// ---------------------------------------------------------------------------------

mod mutated {
    use super::*;
    use proptest::prelude::*;

    const FILES: [&str; 2] = [
        include_str!("../registry.yaml"),
        include_str!("../fixtures/suites/codegen.yaml"),
    ];

    fn assert_clean(result: Result<(), LoadError>) {
        if let Err(err) = result {
            let shown = err.to_string();
            assert!(shown.starts_with("m.yaml"), "{shown}");
            assert!(shown.contains("\n  hint: "), "{shown}");
            assert!(!err.hint().is_empty(), "{shown}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn mutated_files_load_or_fail_with_a_located_hint(
            file in 0usize..2,
            at in any::<prop::sample::Index>(),
            len in 0usize..40,
            insert in "[ -~\t\n]{0,12}",
        ) {
            let text = FILES[file];
            let start = at.index(text.len());
            let end = (start + len).min(text.len());
            if !(text.is_char_boundary(start) && text.is_char_boundary(end)) {
                return Ok(());
            }
            let mutated = format!("{}{insert}{}", &text[..start], &text[end..]);
            let path = Path::new("m.yaml");
            assert_clean(Registry::from_str(&mutated, path).map(drop));
            assert_clean(Suite::from_str(&mutated, path).map(drop));
        }
    }
}
