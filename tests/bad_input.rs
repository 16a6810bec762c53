//! Bad input at every entry: each malformed file or flag gives the documented
//! exit code and a short message saying what, where and how to fix it —
//! never a panic or a backtrace. Table-driven: one row per case.

mod common;

use common::*;

struct Case {
    name: &'static str,
    /// Files to write in the temp dir first: (name, contents).
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    code: i32,
    /// Every one of these must appear in stderr.
    stderr: &'static [&'static str],
}

const BAD_REGISTRY: &str = "version: 1
providers:
  local: {kind: ollama, base_url: \"http://127.0.0.1:11434/v1\"}
tiers:
  - {name: tier1, label: fast, max_p50_ms: 2000}
models:
  - id: a
    provider: local
    status: verified
    tier: tier1
    colour: blue
";

const UNKNOWN_PROVIDER: &str = "version: 1
providers:
  local: {kind: ollama, base_url: \"http://127.0.0.1:11434/v1\"}
tiers:
  - {name: tier1, label: fast, max_p50_ms: 2000}
models:
  - {id: a, provider: nowhere, status: verified, tier: tier1}
";

const BAD_SUITE: &str = "name: s
items:
  - id: a
    language: python
    prompt: Write f.
    entry_point: f
    tests: [\"assert f() == 1\"]
    reference: \"def f():\\n    return 1\\n\"
    broken: \"def f():\\n    return 2\\n\"
    timeout_s: -3
";

const BAD_SCENARIO: &str = "name: bad
seed: 1
time_scale: 0.01
models:
  - id: m
    ttft_ms: {gaussian: 3}
";

const FUTURE_RESULTS: &str = "{\"schema_version\":7,\"kind\":\"attempt\",\"model\":\"m\"}\n";

const CASES: &[Case] = &[
    Case {
        name: "results of an unknown schema version",
        files: &[("r.jsonl", FUTURE_RESULTS)],
        args: &["report", "r.jsonl", "--registry", "@repo"],
        code: 2,
        stderr: &["r.jsonl", "schema_version 7"],
    },
    Case {
        name: "report without results",
        files: &[],
        args: &["report", "nothing-here/", "--registry", "@repo"],
        code: 2,
        stderr: &["nothing-here"],
    },
    Case {
        name: "report --since garbage",
        files: &[],
        args: &["report", "--since", "yesterdayish", "--registry", "@repo"],
        code: 2,
        stderr: &["--since"],
    },
    Case {
        name: "resume a file that is not results",
        files: &[("notes.txt", "hello\n")],
        args: &["probe", "--resume", "notes.txt", "--registry", "@repo"],
        code: 2,
        stderr: &["notes.txt:1", "hint"],
    },
    Case {
        name: "unknown policy",
        files: &[],
        args: &["rotate-test", "--policy", "random", "--registry", "@repo"],
        code: 2,
        stderr: &["random", "adaptive"],
    },
    Case {
        name: "unknown model in --chain",
        files: &[],
        args: &[
            "rotate-test",
            "--chain",
            "nope/nope:free",
            "--registry",
            "@repo",
        ],
        code: 2,
        stderr: &["nope/nope:free"],
    },
    Case {
        name: "success rate out of range",
        files: &[],
        args: &[
            "rotate-test",
            "--min-success-rate",
            "1.5",
            "--registry",
            "@repo",
        ],
        code: 2,
        stderr: &["--min-success-rate"],
    },
    Case {
        name: "models of an unknown provider",
        files: &[],
        args: &["models", "--provider", "nowhere", "--registry", "@repo"],
        code: 2,
        stderr: &["nowhere"],
    },
    Case {
        name: "sim on a bad address",
        files: &[],
        args: &["sim", "--addr", "localhost:http"],
        code: 2,
        stderr: &["--addr"],
    },
    Case {
        name: "unknown field in the registry",
        files: &[("reg.yaml", BAD_REGISTRY)],
        args: &["probe", "--registry", "reg.yaml"],
        code: 2,
        stderr: &["reg.yaml:11:5", "colour", "hint"],
    },
    Case {
        name: "unknown provider in the registry",
        files: &[("reg.yaml", UNKNOWN_PROVIDER)],
        args: &["probe", "--registry", "reg.yaml"],
        code: 2,
        stderr: &["reg.yaml:7:", "nowhere", "hint"],
    },
    Case {
        name: "missing registry file",
        files: &[],
        args: &["probe", "--registry", "nope.yaml"],
        code: 2,
        stderr: &["nope.yaml"],
    },
    Case {
        name: "bad suite",
        files: &[("suite.yaml", BAD_SUITE)],
        args: &["probe", "--suite", "suite.yaml", "--registry", "@repo"],
        code: 2,
        stderr: &["suite.yaml:10:", "timeout_s", "hint"],
    },
    Case {
        name: "bad scenario",
        files: &[("scn.yaml", BAD_SCENARIO)],
        args: &["probe", "--sim", "scn.yaml", "--registry", "@repo"],
        code: 2,
        stderr: &["scn.yaml:6:", "hint"],
    },
    Case {
        name: "unknown scenario name",
        files: &[],
        args: &["sim", "--scenario", "no-such-scenario"],
        code: 2,
        stderr: &["no-such-scenario", "free-tier"],
    },
    Case {
        name: "unknown model",
        files: &[],
        args: &[
            "probe",
            "--models",
            "meta-llama/llama-9-nonexistent:free",
            "--registry",
            "@repo",
        ],
        code: 2,
        stderr: &["unknown model", "--base-url", "did you mean"],
    },
    Case {
        name: "unknown prompt",
        files: &[],
        args: &["probe", "--prompts", "nope", "--registry", "@repo"],
        code: 2,
        stderr: &["no prompt 'nope'", "parse-duration"],
    },
    Case {
        name: "zero repeat",
        files: &[],
        args: &["probe", "--repeat", "0", "--registry", "@repo"],
        code: 2,
        stderr: &["--repeat"],
    },
    Case {
        name: "zero concurrency",
        files: &[],
        args: &["probe", "--concurrency", "0", "--registry", "@repo"],
        code: 2,
        stderr: &["--concurrency"],
    },
    Case {
        name: "negative timeout",
        files: &[],
        args: &["probe", "--timeout=-1", "--registry", "@repo"],
        code: 2,
        stderr: &["--timeout"],
    },
    Case {
        name: "base URL without scheme",
        files: &[],
        args: &["probe", "--base-url", "localhost:8080", "--models", "x"],
        code: 2,
        stderr: &["--base-url", "http://"],
    },
    Case {
        name: "unknown flag",
        files: &[],
        args: &["probe", "--colour"],
        code: 2,
        stderr: &["--colour"],
    },
    Case {
        name: "unreachable base URL",
        files: &[],
        args: &[
            "probe",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--models",
            "x",
            "--registry",
            "@repo",
        ],
        code: 3,
        stderr: &["cannot reach http://127.0.0.1:9/v1", "refused", "hint"],
    },
    Case {
        name: "key variable not set",
        files: &[],
        args: &[
            "probe",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--api-key-env",
            "ROTOR_TEST_UNSET_KEY",
            "--models",
            "x",
        ],
        code: 3,
        stderr: &["ROTOR_TEST_UNSET_KEY is not set"],
    },
    Case {
        name: "a model neither the registry nor the --sim scenario has",
        files: &[],
        args: &[
            "probe",
            "--sim",
            "all-outcomes",
            "--models",
            "outcome/okk",
            "--registry",
            "@repo",
        ],
        code: 2,
        stderr: &[
            "unknown model 'outcome/okk'",
            "scenario all-outcomes",
            "serves outcome/ok,",
        ],
    },
    Case {
        name: "report --write with --dry-run",
        files: &[],
        args: &["report", "r.jsonl", "--write", "--dry-run"],
        code: 2,
        stderr: &["--write", "--dry-run", "cannot be used with"],
    },
];

#[test]
fn every_bad_input_gets_its_exit_code_and_a_located_message() {
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in case.files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let repo_registry = repo_path("registry.yaml");
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| match *a {
                "@repo" => repo_registry.display().to_string(),
                other => other.to_string(),
            })
            .collect();
        let out = rotor(dir.path())
            .args(&args)
            .env_remove("ROTOR_TEST_UNSET_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let mut problems = Vec::new();
        if code != Some(case.code) {
            problems.push(format!("exit {code:?}, want {}", case.code));
        }
        for want in case.stderr {
            if !stderr.contains(want) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        for never in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            if stderr.contains(never) {
                problems.push(format!("stderr has {never:?}"));
            }
        }
        if stderr.lines().count() > 12 {
            problems.push("message longer than 12 lines".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{stderr}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n---\n"));
}

/// A scenario whose server requires a key other than ours.
const LOCKED: &str = "name: locked
seed: 1
time_scale: 0.01
api_key: sk-the-right-key-0000000000
models:
  - id: m
";

#[test]
fn a_rejected_key_exits_3_and_the_key_appears_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("locked.yaml"), LOCKED).unwrap();
    let sim = SimProcess::start(dir.path().join("locked.yaml").to_str().unwrap(), &[]);
    let canary = "sk-canary-4f1c2b9e7d3a6b5c8e0f1a2b3c4d5e6f";
    let out_file = dir.path().join("r.jsonl");
    let out = rotor(dir.path())
        .env("ROTOR_CANARY_KEY", canary)
        .args([
            "probe",
            "--base-url",
            &sim.base_url,
            "--api-key-env",
            "ROTOR_CANARY_KEY",
        ])
        .args(["--models", "m", "-vv", "--registry"])
        .arg(repo_path("registry.yaml"))
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    let results = std::fs::read_to_string(&out_file).unwrap_or_default();
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).to_string()),
        ("stderr", stderr.to_string()),
        ("results", results),
    ] {
        assert!(!text.contains(canary), "the key leaked into {what}");
        assert!(
            !text.contains(&canary[10..30]),
            "part of the key leaked into {what}"
        );
    }
}

/// A key in `--base-url`'s user info (`http://user:KEY@host/v1`) is sent
/// as the URL says, and shown nowhere: not in the notes, the banner,
/// `--json`'s backend, the JUnit properties, the Markdown or the records.
#[test]
fn a_key_in_the_base_urls_user_info_is_shown_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start("free-tier", &[]);
    let canary = "sk-or-v1-canary-userinfo-7d3a6b5c8e0f";
    let base = sim
        .base_url
        .replace("http://", &format!("http://u:{canary}@"));
    let model = "meta-llama/llama-3.3-8b-instruct:free";
    let run = |args: &[&str]| {
        let out = rotor(dir.path())
            .args(args)
            .args(["--base-url", &base, "--json", "--no-validate", "-vv"])
            .args(["--prompts", "parse-duration", "--registry"])
            .arg(repo_path("registry.yaml"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(stderr.contains("rotor's simulator"), "{stderr}");
        (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
    };
    let probe = run(&["probe", "--models", model, "--out", "p.jsonl"]);
    let rotate = run(&[
        "rotate-test",
        "--chain",
        model,
        "--out",
        "rt.jsonl",
        "--junit",
        "rt.xml",
        "--markdown",
        "rt.md",
    ]);
    let report: serde_json::Value = serde_json::from_str(&rotate.0).unwrap();
    assert!(
        report.to_string().contains("127.0.0.1"),
        "the backend is still named: {report}"
    );
    let file = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    for (what, text) in [
        ("probe's stdout", probe.0),
        ("probe's stderr", probe.1),
        ("rotate-test's stdout", rotate.0),
        ("rotate-test's stderr", rotate.1),
        ("probe's records", file("p.jsonl")),
        ("rotate-test's records", file("rt.jsonl")),
        ("JUnit", file("rt.xml")),
        ("Markdown", file("rt.md")),
    ] {
        assert!(
            !text.contains("canary-userinfo"),
            "the key leaked into {what}"
        );
    }
}

/// A key no HTTP header can carry (a pasted control character) is the
/// environment's fault: exit 3 before the first request, not every model
/// recorded as incompatible.
#[test]
fn a_key_with_a_control_character_exits_3_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start("free-tier", &[]);
    for (value, says) in [
        ("sk-or-v1-canary-ctl\u{1}x", "cannot go in an HTTP header"),
        ("   ", "only white space"),
        ("", "is empty"),
    ] {
        let out = rotor(dir.path())
            .env("ROTOR_ODD_KEY", value)
            .args(["probe", "--base-url", &sim.base_url])
            .args(["--api-key-env", "ROTOR_ODD_KEY", "--no-validate"])
            .args(["--models", "meta-llama/llama-3.3-8b-instruct:free"])
            .args(["--prompts", "parse-duration", "--registry"])
            .arg(repo_path("registry.yaml"))
            .arg("--out")
            .arg(dir.path().join("odd.jsonl"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{value:?}: {stderr}");
        assert!(stderr.contains(says), "{value:?}: {stderr}");
        assert!(!stderr.contains("canary-ctl"), "{stderr}");
        let records = std::fs::read_to_string(dir.path().join("odd.jsonl")).unwrap_or_default();
        assert!(!records.contains("\"kind\":\"attempt\""), "{records}");
    }
}

/// Each cause is said once (a message that quotes its source is not followed
/// by it again), and a CSV path that cannot be opened leaves no empty
/// results file behind.
#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = rotor(dir.path())
            .args(["--registry", repo_path("registry.yaml").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let d = dir.path().to_str().unwrap().to_string();
    let probe = ["probe", "--sim", "--prompts", "parse-duration"];
    for (args, cause) in [
        (vec!["--out", d.as_str()], "Is a directory"),
        (
            vec!["--out", "r.jsonl", "--csv", d.as_str()],
            "Is a directory",
        ),
        (vec!["--suite", d.as_str()], "it is a directory"),
    ] {
        let all: Vec<&str> = probe.iter().copied().chain(args.iter().copied()).collect();
        let stderr = run(&all);
        assert_eq!(stderr.matches(cause).count(), 1, "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("r.jsonl").exists());
    let stderr = run(&["probe", "--sim", d.as_str()]);
    assert_eq!(stderr.matches("Is a directory").count(), 1, "{stderr}");
}

/// A registry or suite saved in another encoding: the place of the first
/// byte that is not UTF-8, as for any other error.
#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"version: 1\n# caf".to_vec();
    bytes.push(0xe9); // é in Latin-1
    bytes.extend_from_slice(b"\nproviders: {}\n");
    for (flag, name) in [("--registry", "reg.yaml"), ("--suite", "suite.yaml")] {
        std::fs::write(dir.path().join(name), &bytes).unwrap();
        let mut c = rotor(dir.path());
        if flag == "--suite" {
            c.args(["--registry", repo_path("registry.yaml").to_str().unwrap()]);
            c.args(["probe", "--sim", "--suite", name]);
        } else {
            c.args(["--registry", name, "probe", "--sim"]);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{name}:2:6: the file is not UTF-8")),
            "{stderr}"
        );
        assert!(stderr.contains("hint: save the file as UTF-8"), "{stderr}");
    }
}
