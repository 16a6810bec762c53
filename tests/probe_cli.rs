//! `rotor probe` end to end: the real binary against the real simulator on
//! 127.0.0.1:0, its records compared with what the simulator says it did.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const ALL_OUTCOME_MODELS: &[&str] = &[
    "outcome/ok",
    "outcome/rate-limited",
    "outcome/overloaded",
    "outcome/server-error",
    "outcome/timeout",
    "outcome/timeout-keepalive",
    "outcome/network",
    "outcome/forbidden",
    "outcome/bad-request",
    "outcome/not-found",
    "outcome/invalid-response",
];

fn first_prompt() -> String {
    let suite = rotor::suite::Suite::embedded_default().expect("embedded suite");
    suite.items[0].id.clone()
}

/// Per (model, outcome) counts of rotor's attempt records.
fn counts_by_outcome(records: &[Value]) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for r in attempts(records) {
        let key = (
            r["model"].as_str().unwrap().to_string(),
            r["outcome"].as_str().unwrap().to_string(),
        );
        *m.entry(key).or_default() += 1;
    }
    m
}

/// Per (model, outcome) counts the simulator reports.
fn sim_counts(stats: &Value) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for (model, s) in stats["models"].as_object().unwrap() {
        for (outcome, n) in s["by_outcome"].as_object().unwrap() {
            let n = n.as_u64().unwrap();
            if n > 0 {
                m.insert((model.clone(), outcome.clone()), n);
            }
        }
    }
    m
}

#[test]
fn default_probe_uses_the_simulator_and_records_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let csv = dir.path().join("r.csv");
    let models = "meta-llama/llama-3.3-8b-instruct:free,google/gemma-2-9b-it:free";
    let assert = rotor(dir.path())
        .args(["probe", "--json", "--repeat", "2", "--models", models])
        .args(["--prompts", &first_prompt()])
        .arg("--registry")
        .arg(repo_path("registry.yaml"))
        .arg("--out")
        .arg(&out)
        .arg("--csv")
        .arg(&csv)
        .assert()
        .success();
    let output = assert.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("OPENROUTER_API_KEY is not set") && stderr.contains("simulator"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary on stdout");
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["command"], "probe");
    assert_eq!(summary["models"].as_array().unwrap().len(), 2);

    let records = read_records(&out);
    let attempts = attempts(&records);
    assert_eq!(summary["attempts"].as_u64().unwrap(), attempts.len() as u64);
    assert!(attempts.len() >= 4, "2 models x 2 repeats");
    for a in &attempts {
        assert_eq!(a["schema_version"], 1);
        assert_eq!(a["command"], "probe");
        assert_eq!(a["stream"], true);
        for field in [
            "run_id",
            "ts",
            "provider",
            "model",
            "prompt_id",
            "repeat",
            "attempt",
            "outcome",
            "latency_ms",
            "tokens_source",
        ] {
            assert!(!a[field].is_null(), "{field} in {a}");
        }
        if a["outcome"] == "ok" {
            assert!(a["ttft_ms"].as_f64().unwrap() > 0.0);
            assert!(a["ttft_ms"].as_f64().unwrap() <= a["latency_ms"].as_f64().unwrap());
            assert_eq!(a["tokens_source"], "usage");
            assert!(a["output_tokens"].as_u64().unwrap() > 0);
        }
    }
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        csv_text.lines().count(),
        attempts.len() + 1,
        "header + a row per attempt"
    );
}

#[test]
fn probe_counts_equal_the_simulators_and_reach_every_outcome_class() {
    let sim = SimProcess::start("all-outcomes", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let registry = simple_registry(dir.path(), &["outcome/ok"]);
    rotor(dir.path())
        .args([
            "probe",
            "--no-validate",
            "--json",
            "--timeout",
            "0.5",
            "--repeat",
            "2",
        ])
        .args(["--concurrency", "11", "--prompts", &first_prompt()])
        .args([
            "--base-url",
            &sim.base_url,
            "--models",
            &ALL_OUTCOME_MODELS.join(","),
        ])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let records = read_records(&out);
    let ours = counts_by_outcome(&records);
    let truth = sim_counts(&sim.stats());
    assert_eq!(
        ours, truth,
        "rotor's per-outcome counts equal the simulator's"
    );
    let outcomes: std::collections::BTreeSet<&str> = attempts(&records)
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    for class in [
        "ok",
        "rate_limited",
        "overloaded",
        "server_error",
        "timeout",
        "network",
        "forbidden",
        "bad_request",
        "not_found",
        "invalid_response",
    ] {
        assert!(outcomes.contains(class), "{class} reached: {outcomes:?}");
    }
    // Each model's records carry the right details.
    for a in attempts(&records) {
        match a["model"].as_str().unwrap() {
            "outcome/rate-limited" => {
                assert_eq!(a["http_status"], 429);
                assert_eq!(a["rate_limit_scope"], "upstream");
            }
            "outcome/timeout" => assert_eq!(a["outcome"], "timeout"),
            "outcome/not-found" => assert_eq!(a["http_status"], 404),
            _ => {}
        }
    }
}

#[test]
fn payment_and_auth_failures_are_classified_and_auth_stops_the_run() {
    let sim = SimProcess::start("all-outcomes", &[]);
    let dir = tempfile::tempdir().unwrap();
    let registry = simple_registry(dir.path(), &["outcome/ok"]);
    let out = dir.path().join("pay.jsonl");
    rotor(dir.path())
        .args(["probe", "--no-validate", "--prompts", &first_prompt()])
        .args(["--base-url", &sim.base_url, "--models", "outcome/payment"])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let records = read_records(&out);
    let a = attempts(&records);
    assert_eq!(a.len(), 1, "402 takes the provider out: no retry");
    assert_eq!(a[0]["outcome"], "payment");

    let out = dir.path().join("auth.jsonl");
    let assert = rotor(dir.path())
        .args(["probe", "--no-validate", "--prompts", &first_prompt()])
        .args([
            "--base-url",
            &sim.base_url,
            "--models",
            "outcome/auth,outcome/ok",
        ])
        .args(["--concurrency", "1"])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(
        stderr.contains("401") || stderr.contains("authentication"),
        "{stderr}"
    );
    let records = read_records(&out);
    assert_eq!(attempts(&records)[0]["outcome"], "auth");
}

#[test]
fn a_known_account_limit_means_zero_429s_and_an_unknown_one_does_not() {
    // Known: --sim mode learns the simulated account's 20/minute from the
    // scenario; concurrency 8 would exceed it without the limiter.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("known.jsonl");
    let models = [
        "meta-llama/llama-3.3-8b-instruct:free",
        "cognitivecomputations/dolphin-mistral-24b-venice-edition:free",
        "cognitivecomputations/dolphin3.0-mistral-24b:free",
        "meta-llama/llama-4-maverick:free",
        "meituan/longcat-flash-chat:free",
        "meta-llama/llama-3.3-70b-instruct:free",
        "nvidia/nemotron-nano-9b-v2:free",
    ]
    .join(",");
    let suite = rotor::suite::Suite::embedded_default().unwrap();
    let prompts = suite.items[..4]
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    rotor(dir.path())
        .args([
            "probe",
            "--sim",
            "free-tier",
            "--no-validate",
            "--concurrency",
            "8",
        ])
        .args(["--models", &models, "--prompts", &prompts])
        .arg("--registry")
        .arg(repo_path("registry.yaml"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let records = read_records(&out);
    let account_429 = attempts(&records)
        .iter()
        .filter(|a| a["rate_limit_scope"] == "account_minute")
        .count();
    assert_eq!(
        attempts(&records)
            .iter()
            .filter(|a| a["outcome"] == "ok")
            .count(),
        28
    );
    assert_eq!(account_429, 0, "the limiter kept to the known limit");

    // Unknown: the same simulated account behind --base-url, no limit known.
    // (After the first 429 rotor learns "20 per minute" from X-RateLimit-Limit
    // and paces at a real minute, slower than the simulated one: a short
    // deadline ends those prompts quickly.)
    let sim = SimProcess::start("free-tier", &[]);
    let out = dir.path().join("unknown.jsonl");
    let registry_text = std::fs::read_to_string(repo_path("registry.yaml"))
        .unwrap()
        .replace("deadline_s: 120", "deadline_s: 2");
    let registry = dir.path().join("registry.yaml");
    std::fs::write(&registry, registry_text).unwrap();
    rotor(dir.path())
        .args(["probe", "--no-validate", "--concurrency", "8"])
        .args([
            "--base-url",
            &sim.base_url,
            "--models",
            &models,
            "--prompts",
            &prompts,
        ])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let records = read_records(&out);
    let account_429 = attempts(&records)
        .iter()
        .filter(|a| a["rate_limit_scope"] == "account_minute")
        .count() as u64;
    let stats = sim.stats();
    let sent = stats["groups"]["openrouter"]["rate_limited_minute"]
        .as_u64()
        .unwrap();
    assert!(account_429 > 0, "without the limit, 429s happen");
    assert_eq!(
        account_429, sent,
        "every 429 the simulator sent is recorded"
    );
}

#[test]
fn rotor_sim_prints_its_base_url_first_and_stops_on_sigterm() {
    let mut sim = SimProcess::start("free-tier", &["--seed", "9"]);
    let models = sim.get_json("/v1/models");
    assert!(models["data"].as_array().unwrap().len() > 10);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sim.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let started = Instant::now();
    let status = sim.wait();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// `rotor probe --json | head -c0`: the summary is serialised straight into
/// the pipe, and a reader that went away is neither an error nor a panic.
#[test]
fn a_json_reader_that_went_away_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("rotor");
    let mut child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_remove("OPENROUTER_API_KEY")
        .args(["probe", "--sim", "--json", "--no-validate", "-q"])
        .args(["--prompts", &first_prompt()])
        .arg("--registry")
        .arg(repo_path("registry.yaml"))
        .arg("--out")
        .arg(dir.path().join("r.jsonl"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stdout"),
        "{stderr}"
    );
}

/// `rotor … 2>&1 | head -1`: stderr closed after a line. Every command that
/// talks on stderr runs to its end (eprintln! panicked on EPIPE, and the
/// panic hook's own write then aborted the process: exit 134, nothing run).
#[test]
fn a_closed_stderr_does_not_stop_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("rotor");
    let run = |args: &[&str], out: &str| {
        let mut child = std::process::Command::new(&bin)
            .current_dir(dir.path())
            .env_remove("OPENROUTER_API_KEY")
            .env_remove("GITHUB_STEP_SUMMARY")
            .arg("--registry")
            .arg(repo_path("registry.yaml"))
            .args(args)
            .arg("--out")
            .arg(dir.path().join(out))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        child.wait().unwrap().code()
    };
    let prompt = first_prompt();
    let probe = ["probe", "--sim", "--no-validate", "--prompts", &prompt];
    let model = "meta-llama/llama-3.3-8b-instruct:free";
    let rotate = [
        "rotate-test",
        "--sim",
        "--no-validate",
        "--prompts",
        &prompt,
        "--chain",
        model,
    ];
    assert_eq!(run(&probe, "p.jsonl"), Some(0));
    assert_eq!(run(&rotate, "rt.jsonl"), Some(0));
    let records = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"kind\":\"attempt\""))
            .count()
    };
    assert!(records("p.jsonl") > 0 && records("rt.jsonl") > 0);
    // report's notes go to the closed stderr as well.
    let mut child = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .arg("--registry")
        .arg(repo_path("registry.yaml"))
        .args(["report", "p.jsonl", "rt.jsonl"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `-q`: only errors on stderr — not the summary line, not the note that
/// there is no key (the run says it used the simulator in its records).
#[test]
fn quiet_leaves_stderr_empty_on_success() {
    let dir = tempfile::tempdir().unwrap();
    // With --sim, and without a key (the simulator by default).
    for sim in [&["--sim"][..], &[]] {
        let out = rotor(dir.path())
            .args(["--registry", repo_path("registry.yaml").to_str().unwrap()])
            .args(["probe", "--no-validate", "-q"])
            .args(sim)
            .args(["--models", "meta-llama/llama-3.3-8b-instruct:free"])
            .args(["--prompts", &first_prompt(), "--out", "q.jsonl"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{sim:?}");
        assert!(
            !out.stdout.is_empty(),
            "the table is the result: still printed"
        );
    }
}

/// `--sim SCENARIO` reaches the scenario's own models: by default when it
/// serves none of the registry's, and by name through `--models` (ids the
/// registry does not know).
#[test]
fn a_scenarios_own_models_are_probed_by_default_and_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let probe = |args: &[&str]| {
        let out = rotor(dir.path())
            .args(["--registry", repo_path("registry.yaml").to_str().unwrap()])
            .args(["probe", "--no-validate", "--json", "-q", "--out", "s.jsonl"])
            .args(["--prompts", &first_prompt()])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["model"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let all = probe(&["--sim", "validation"]);
    assert!(all.len() >= 6, "{all:?}");
    assert!(all.iter().all(|m| m.starts_with("answers/")), "{all:?}");
    assert_eq!(
        probe(&[
            "--sim",
            "all-outcomes",
            "--models",
            "outcome/ok,outcome/server-error"
        ]),
        ["outcome/ok", "outcome/server-error"]
    );
    // The free-tier scenario serves the registry's models: those stay.
    let free = probe(&["--sim", "free-tier", "--concurrency", "8"]);
    assert!(free.iter().any(|m| m.ends_with(":free")), "{free:?}");
}

#[test]
fn sigint_keeps_finished_attempts_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let bin = assert_cmd::cargo::cargo_bin("rotor");
    let child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_remove("OPENROUTER_API_KEY")
        .args([
            "probe",
            "--sim",
            "--json",
            "--no-validate",
            "--concurrency",
            "2",
        ])
        .arg("--registry")
        .arg(repo_path("registry.yaml"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some attempts are on disk, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out)
        .map(|t| t.lines().count() < 5)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "no records appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("partial summary");
    assert_eq!(summary["interrupted"], true);
    let records = read_records(&out);
    assert_eq!(
        summary["attempts"].as_u64().unwrap(),
        attempts(&records).len() as u64,
        "every finished attempt is on disk and in the summary"
    );
}

/// A server that answers `GET` and `POST` at once but never answers `HEAD`:
/// the warm-up gives up after `--timeout` (at most 5 s), says so, and the
/// run goes on over connections of its own.
#[test]
fn a_warm_up_left_unanswered_is_noted_and_the_run_goes_on() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let req = String::from_utf8_lossy(&buf[..n]);
                    if req.starts_with("HEAD") {
                        // Hold the connection, never answer.
                        std::thread::sleep(Duration::from_secs(30));
                        return;
                    }
                    let body = if req.starts_with("GET") {
                        r#"{"object":"list","data":[{"id":"w/m","object":"model"}]}"#.to_string()
                    } else {
                        r#"{"id":"x","object":"chat.completion","created":1,"model":"w/m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#.to_string()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let registry = simple_registry(dir.path(), &["w/m"]);
    let started = Instant::now();
    let out = rotor(dir.path())
        .args(["probe", "--no-validate", "--no-stream", "--json"])
        .args(["--timeout", "1", "--concurrency", "2", "--repeat", "2"])
        .args(["--prompts", &first_prompt()])
        .args([
            "--base-url",
            &format!("http://{addr}/v1"),
            "--models",
            "w/m",
        ])
        .arg("--registry")
        .arg(&registry)
        .arg("--out")
        .arg(dir.path().join("w.jsonl"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr
            .contains("note: 2 of 2 requests that open connections ahead of the run got no answer"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["models"][0]["ok"], 2, "the run went on: {summary}");
    assert_eq!(summary["connections"]["opened_during_run"], 2);
    assert!(started.elapsed() < Duration::from_secs(30));
}
