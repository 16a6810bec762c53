//! `rotor models` against a small `/v1/models` server started in the test,
//! and against a real `rotor sim` child process.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use predicates::prelude::*;
use rotor::registry::{Registry, Status};

const REGISTRY: &str = "fixtures/results/registry.yaml";

fn models_body() -> serde_json::Value {
    let m = |id: &str, prompt: &str, completion: &str, ctx: u64| {
        serde_json::json!({"id": id, "name": id, "context_length": ctx,
            "pricing": {"prompt": prompt, "completion": completion}})
    };
    serde_json::json!({"data": [
        m("fast-a:free", "0", "0", 131072),
        m("fast-b:free", "0", "0", 65536),
        m("mid-c:free", "0", "0", 32768),
        m("stale-g:free", "0", "0", 32768),
        m("bad-e:free", "0", "0", 8192),
        m("new-f:free", "0", "0", 8192),
        // slow-d's free variant ended; the paid model is still listed.
        m("slow-d", "0.000001", "0.000002", 8192),
        m("brand-new:free", "0", "0", 200000),
        m("zero-priced/model", "0", "0", 4096),
        m("paid/model", "0.000003", "0.000015", 128000),
        {"id": "no-pricing/model"},
    ]})
}

struct Server {
    base: String,
    auth: Arc<Mutex<Vec<Option<String>>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Serves `body` at /v1/models with `status` on 127.0.0.1:0 from its own thread.
fn serve(status: StatusCode, body: serde_json::Value) -> Server {
    let auth: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = auth.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new().route(
                "/v1/models",
                get(move |headers: HeaderMap| {
                    let seen = seen.clone();
                    let body = body.clone();
                    async move {
                        let a = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        seen.lock().unwrap().push(a);
                        (status, axum::Json(body))
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Server {
        base: format!("http://{addr}/v1"),
        auth,
        _shutdown: stop_tx,
    }
}

fn rotor() -> Command {
    let mut c = Command::cargo_bin("rotor").unwrap();
    c.env_remove("RUST_LOG")
        .env_remove("OPENROUTER_API_KEY")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn lists_free_models_as_json_without_a_key() {
    let server = serve(StatusCode::OK, models_body());
    let out = rotor()
        .args([
            "--registry",
            REGISTRY,
            "models",
            "--free",
            "--json",
            "--base-url",
            &server.base,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    let ids: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"brand-new:free") && ids.contains(&"zero-priced/model"));
    assert!(
        !ids.contains(&"paid/model")
            && !ids.contains(&"slow-d")
            && !ids.contains(&"no-pricing/model")
    );
    let fast_a = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "fast-a:free")
        .unwrap();
    assert_eq!(fast_a["context_length"], 131072);
    assert_eq!(fast_a["registry_status"], "verified");
    assert_eq!(
        server.auth.lock().unwrap().as_slice(),
        [None],
        "no key: no header"
    );
}

#[test]
fn sends_the_key_when_it_is_set_and_shows_a_table() {
    let server = serve(StatusCode::OK, models_body());
    rotor()
        .env("OPENROUTER_API_KEY", "sk-test-123")
        .args(["--registry", REGISTRY, "models", "--provider", "openrouter"])
        .args(["--base-url", &server.base])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("paid/model")
                .and(predicate::str::contains("$3.00/M"))
                .and(predicate::str::contains("11 models, 8 free"))
                .and(predicate::str::contains("sk-test").not()),
        );
    assert_eq!(
        server.auth.lock().unwrap().as_slice(),
        [Some("Bearer sk-test-123".to_string())]
    );
}

/// `--base-url` of a server no provider has, without `--provider`: the
/// OpenRouter key stays home; `--api-key-env` names the key to send.
#[test]
fn a_server_no_provider_has_gets_no_providers_key() {
    let server = serve(StatusCode::OK, models_body());
    rotor()
        .env("OPENROUTER_API_KEY", "sk-test-123")
        .env("OTHER_KEY", "sk-other-456")
        .args(["--registry", REGISTRY, "models", "--base-url", &server.base])
        .assert()
        .success();
    rotor()
        .env("OPENROUTER_API_KEY", "sk-test-123")
        .env("OTHER_KEY", "sk-other-456")
        .args(["--registry", REGISTRY, "models", "--base-url", &server.base])
        .args(["--api-key-env", "OTHER_KEY"])
        .assert()
        .success();
    assert_eq!(
        server.auth.lock().unwrap().as_slice(),
        [None, Some("Bearer sk-other-456".to_string())]
    );
}

#[test]
fn diff_lists_new_free_models_and_gone_ones() {
    let server = serve(StatusCode::OK, models_body());
    rotor()
        .args([
            "--registry",
            REGISTRY,
            "models",
            "--diff",
            "--provider",
            "openrouter",
            "--base-url",
            &server.base,
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("brand-new:free")
                .and(predicate::str::contains("zero-priced/model"))
                .and(predicate::str::contains("slow-d:free"))
                .and(predicate::str::contains("free variant ended"))
                .and(predicate::str::contains("2 new, 1 gone")),
        );
}

#[test]
fn diff_write_adds_candidates_and_retires_gone_models_keeping_comments() {
    let server = serve(StatusCode::OK, models_body());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.yaml");
    std::fs::copy(REGISTRY, &path).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    let out = rotor()
        .arg("--registry")
        .arg(&path)
        .args(["models", "--diff", "--write", "--provider", "openrouter"])
        .args(["--base-url", &server.base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("+  - id: brand-new:free"), "{stdout}");
    let after = std::fs::read_to_string(&path).unwrap();
    for line in before.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(after.contains(line), "comment lost: {line}");
    }
    let reg = Registry::load(&path).unwrap();
    let new = reg.model("brand-new:free").unwrap();
    assert_eq!(new.status, Status::Candidate);
    assert_eq!(new.tier.as_deref(), Some("tier3"));
    assert_eq!(new.context_length, Some(200000));
    assert_eq!(reg.model("slow-d:free").unwrap().status, Status::Retired);
    assert!(
        !reg.rotation
            .order
            .unwrap()
            .contains(&"slow-d:free".to_string())
    );
    // Nothing left to do the second time.
    rotor()
        .arg("--registry")
        .arg(&path)
        .args(["models", "--diff", "--provider", "openrouter"])
        .args(["--base-url", &server.base])
        .assert()
        .success()
        .stdout(predicate::str::contains("up to date"));
}

#[test]
fn an_unreachable_server_or_a_refused_key_is_an_environment_error() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    rotor()
        .args([
            "--registry",
            REGISTRY,
            "models",
            "--timeout",
            "5",
            "--base-url",
        ])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot list the models"));
    let server = serve(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"error": {"code": 401, "message": "No auth credentials found"}}),
    );
    rotor()
        .env("OPENROUTER_API_KEY", "sk-secret-999")
        .args(["--registry", REGISTRY, "models", "--base-url", &server.base])
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("HTTP 401")
                .and(predicate::str::contains("No auth credentials"))
                .and(predicate::str::contains("sk-secret").not()),
        );
}

#[test]
fn an_unknown_provider_is_an_input_error() {
    rotor()
        .args(["--registry", REGISTRY, "models", "--provider", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown provider 'nope'"));
}

/// The repository's registry (20 OpenRouter models, one local) copied into a
/// temp dir, and a `rotor sim` child serving only `m/one:free`.
struct SimSetup {
    dir: tempfile::TempDir,
    registry: std::path::PathBuf,
    sim: common::SimProcess,
}

fn sim_setup() -> SimSetup {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("one.yaml");
    std::fs::write(&scenario, "name: one-model\nmodels:\n  - id: m/one:free\n").unwrap();
    let sim = common::SimProcess::start(scenario.to_str().unwrap(), &[]);
    let registry = dir.path().join("registry.yaml");
    std::fs::copy(common::repo_path("registry.yaml"), &registry).unwrap();
    SimSetup { dir, registry, sim }
}

/// (id, provider, status) of a registry model.
type ModelRow = (String, String, Status);

/// (id, provider, status) of every model, and the rotation order.
fn snapshot(path: &std::path::Path) -> (Vec<ModelRow>, Option<Vec<String>>) {
    let reg = Registry::load(path).unwrap();
    let models = reg
        .models
        .iter()
        .map(|m| (m.id.clone(), m.provider.clone(), m.status))
        .collect();
    (models, reg.rotation.order.clone())
}

#[test]
fn a_diff_against_a_server_no_provider_has_is_refused_and_writes_nothing() {
    let s = sim_setup();
    let before = std::fs::read_to_string(&s.registry).unwrap();
    let openrouter = snapshot(&s.registry)
        .0
        .iter()
        .filter(|m| m.1 == "openrouter")
        .count();
    assert_eq!(openrouter, 20, "the registry this test is about");
    for flags in [
        &["--diff", "--dry-run"][..],
        &["--diff", "--write"],
        &["--diff"],
        &["--diff", "--write", "--simulated"],
    ] {
        let out = rotor()
            .arg("--registry")
            .arg(&s.registry)
            .args(["models", "--base-url", &s.sim.base_url])
            .args(flags)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "no registry provider has the base URL {}",
                s.sim.base_url
            )) && stderr.contains("hint: pass --provider NAME (one of local, openrouter)"),
            "{flags:?}: {stderr}"
        );
        assert!(
            !stdout.contains("gone"),
            "{flags:?}: no diff shown: {stdout}"
        );
        assert_eq!(std::fs::read_to_string(&s.registry).unwrap(), before);
    }
    // The plain list still works: it judges nothing.
    rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args(["models", "--base-url", &s.sim.base_url])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 models, 1 free"));
    drop(s.dir);
}

#[test]
fn a_base_url_a_provider_has_diffs_that_providers_models_and_new_ones_get_it() {
    let s = sim_setup();
    // A provider `lab` at the simulator's URL (written with a trailing slash),
    // with a model the simulator does not list, in the chain.
    let text = std::fs::read_to_string(&s.registry)
        .unwrap()
        .replacen(
            "\nproviders:\n",
            &format!(
                "\nproviders:\n  lab:\n    kind: openai-compatible\n    base_url: {}/\n",
                s.sim.base_url
            ),
            1,
        )
        .replacen("  order:\n", "  order:\n    - lab/old:free\n", 1)
        + "\n  - id: lab/old:free\n    provider: lab\n    status: verified\n    tier: tier3\n";
    std::fs::write(&s.registry, text).unwrap();
    let (models_before, order_before) = snapshot(&s.registry);
    assert!(
        order_before
            .as_ref()
            .unwrap()
            .contains(&"lab/old:free".into())
    );

    let out = rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args(["models", "--diff", "--write", "--simulated", "--json"])
        .args(["--base-url", &s.sim.base_url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["provider"], "lab", "{v}");
    assert_eq!(v["new"][0]["id"], "m/one:free", "{v}");
    assert_eq!(v["new"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["gone"][0]["id"], "lab/old:free", "{v}");
    assert_eq!(v["gone"].as_array().unwrap().len(), 1, "only lab's: {v}");
    assert!(
        stderr.contains("is rotor's simulator (scenario one-model)"),
        "{stderr}"
    );

    let (models_after, order_after) = snapshot(&s.registry);
    for (id, provider, status) in &models_before {
        let after = models_after.iter().find(|m| &m.0 == id).unwrap();
        if id == "lab/old:free" {
            assert_eq!(after.2, Status::Retired);
        } else {
            assert_eq!(
                (&after.1, after.2),
                (provider, *status),
                "{id} is not lab's: untouched"
            );
        }
    }
    let new = models_after.iter().find(|m| m.0 == "m/one:free").unwrap();
    assert_eq!((new.1.as_str(), new.2), ("lab", Status::Candidate));
    let expected: Vec<String> = order_before
        .unwrap()
        .into_iter()
        .filter(|id| id != "lab/old:free")
        .collect();
    assert_eq!(
        order_after.unwrap(),
        expected,
        "only lab's model left the chain"
    );
}

#[test]
fn the_given_provider_is_the_one_compared_and_given_to_new_models() {
    let s = sim_setup();
    let (models_before, order_before) = snapshot(&s.registry);
    let out = rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args([
            "models",
            "--diff",
            "--write",
            "--simulated",
            "--provider",
            "local",
        ])
        .args(["--base-url", &s.sim.base_url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 new, 1 gone"), "{stdout}");
    let (models_after, order_after) = snapshot(&s.registry);
    let new = models_after.iter().find(|m| m.0 == "m/one:free").unwrap();
    assert_eq!((new.1.as_str(), new.2), ("local", Status::Candidate));
    for (id, provider, status) in models_before.iter().filter(|m| m.1 == "openrouter") {
        let after = models_after.iter().find(|m| &m.0 == id).unwrap();
        assert_eq!((&after.1, after.2), (provider, *status), "{id}");
    }
    assert_eq!(order_after, order_before);
}

#[test]
fn a_list_served_by_the_simulator_is_written_only_with_simulated() {
    let s = sim_setup();
    let before = std::fs::read_to_string(&s.registry).unwrap();
    rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args(["models", "--diff", "--write", "--provider", "local"])
        .args(["--base-url", &s.sim.base_url])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("refusing to write a simulated model list")
                .and(predicate::str::contains("scenario one-model"))
                .and(predicate::str::contains("--simulated writes it anyway")),
        );
    assert_eq!(std::fs::read_to_string(&s.registry).unwrap(), before);
    // --dry-run shows the diff, with a note.
    rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args(["models", "--diff", "--dry-run", "--provider", "local"])
        .args(["--base-url", &s.sim.base_url])
        .assert()
        .success()
        .stdout(predicate::str::contains("+  - id: m/one:free"))
        .stderr(predicate::str::contains(
            "is rotor's simulator (scenario one-model)",
        ));
    assert_eq!(std::fs::read_to_string(&s.registry).unwrap(), before);
}

#[test]
fn write_and_dry_run_need_diff_and_exclude_each_other() {
    let s = sim_setup();
    let before = std::fs::read_to_string(&s.registry).unwrap();
    for flag in ["--write", "--dry-run"] {
        rotor()
            .arg("--registry")
            .arg(&s.registry)
            .args(["models", flag, "--provider", "local"])
            .args(["--base-url", &s.sim.base_url])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--diff"));
    }
    rotor()
        .arg("--registry")
        .arg(&s.registry)
        .args([
            "models",
            "--diff",
            "--write",
            "--dry-run",
            "--provider",
            "local",
        ])
        .args(["--base-url", &s.sim.base_url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    assert_eq!(std::fs::read_to_string(&s.registry).unwrap(), before);
}
