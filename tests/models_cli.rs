//! `rotor models` against a small `/v1/models` server started in the test.

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
        .args(["--registry", REGISTRY, "models", "--base-url", &server.base])
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

#[test]
fn diff_lists_new_free_models_and_gone_ones() {
    let server = serve(StatusCode::OK, models_body());
    rotor()
        .args([
            "--registry",
            REGISTRY,
            "models",
            "--diff",
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
        .args(["models", "--diff", "--write", "--base-url", &server.base])
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
        .args(["models", "--diff", "--base-url", &server.base])
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
