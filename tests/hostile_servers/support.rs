//! Helpers of the hostile-server tests: the client with short timeouts, the
//! catalogue scenario with its redirect pointed at a listener the test owns,
//! temp registries, and a `rotor sim` child process.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rotor::client::{CallSpec, ClientConfig, Endpoint, HttpClient};
use rotor::secret::Secret;
use rotor::sim::Scenario;
use rotor::wire::Message;
use tokio::net::TcpListener;

/// The catalogue scenario.
pub const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/scenarios/hostile.yaml"
);

/// The client's read timeout (gap between SSE data events, or body bytes).
pub const READ: Duration = Duration::from_millis(300);
/// Deadline for the response headers.
pub const FIRST_BYTE: Duration = Duration::from_millis(500);
/// Deadline of the whole call.
pub const TOTAL: Duration = Duration::from_secs(1);
/// How late a call may end after its deadline on a loaded machine.
pub const SLACK: Duration = Duration::from_millis(500);

pub static MESSAGES: LazyLock<Vec<Message>> =
    LazyLock::new(|| vec![Message::user("Say something hostile")]);

/// A canary key: unique per process, so a leak cannot be a coincidence.
pub fn canary() -> String {
    static KEY: LazyLock<String> = LazyLock::new(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("sk-canary-{:x}{:x}", nanos, std::process::id())
    });
    KEY.clone()
}

/// rotor's client with the catalogue's short timeouts and the default
/// 10 MiB body cap.
pub fn client() -> HttpClient {
    HttpClient::new(ClientConfig {
        connect_timeout: READ,
        read_timeout: READ,
        ..ClientConfig::default()
    })
    .unwrap()
}

pub fn spec(model: &str, stream: bool) -> CallSpec<'_> {
    CallSpec {
        model,
        messages: &MESSAGES,
        stream,
        max_tokens: Some(64),
        temperature: None,
        seed: None,
        total_timeout: TOTAL,
        first_byte_timeout: FIRST_BYTE,
        scheduled: None,
    }
}

pub fn endpoint(base: &str) -> Endpoint {
    Endpoint {
        base_url: base.to_string(),
        api_key: Some(Secret::new(canary())),
        headers: vec![],
    }
}

/// A listener on another host (127.0.0.2, or `localhost` where 127.0.0.2
/// cannot be bound) that counts the connections it accepts and never
/// answers them. Returns the URL to point a redirect at, and the count.
pub async fn other_host() -> (String, Arc<AtomicUsize>) {
    let (listener, host) = match TcpListener::bind("127.0.0.2:0").await {
        Ok(l) => (l, "127.0.0.2"),
        Err(_) => (TcpListener::bind("127.0.0.1:0").await.unwrap(), "localhost"),
    };
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    (format!("http://{host}:{port}/v1/chat/completions"), hits)
}

/// The catalogue scenario with its redirect pointed at `redirect_to`.
pub fn hostile_scenario(redirect_to: &str) -> Scenario {
    let mut s = Scenario::load(Path::new(HOSTILE)).unwrap();
    assert!(s.api_key.is_none(), "the catalogue must not need a key");
    s.redirect_to = Some(redirect_to.to_string());
    s
}

/// The catalogue's model ids.
pub fn hostile_models() -> Vec<String> {
    Scenario::load(Path::new(HOSTILE))
        .unwrap()
        .models
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// A registry listing each of `models` under a provider of its own (so one
/// model's account-wide 429 does not hold the others back), with tiny
/// backoff, one retry and a `deadline_s` deadline per prompt.
pub fn write_registry(dir: &Path, models: &[String], deadline_s: f64) -> PathBuf {
    let provider = |m: &str| m.replace('/', "-");
    let mut text = String::from("version: 1\nproviders:\n");
    for m in models {
        text.push_str(&format!(
            "  {}: {{kind: openai-compatible, base_url: \"http://127.0.0.1:9/v1\"}}\n",
            provider(m)
        ));
    }
    text.push_str(&format!(
        "tiers:
  - {{name: tier1, label: fast, max_p50_ms: 2000}}
rotation:
  policy: adaptive
  deadline_s: {deadline_s}
  backoff: {{base_s: 0.01, cap_s: 0.05, factor: 2, max_retries: 1}}
  breaker: {{failures: 5, cooldown_s: 1}}
models:
"
    ));
    for m in models {
        text.push_str(&format!(
            "  - {{id: {m}, provider: {}, status: candidate, tier: tier1}}\n",
            provider(m)
        ));
    }
    let path = dir.join("registry.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A `rotor sim` child process; killed (by its pid) when dropped.
pub struct SimProcess {
    child: Child,
    pub base_url: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl SimProcess {
    /// Starts `rotor sim --scenario <path>` and reads the base URL from the
    /// first line of its stdout.
    pub fn start(scenario: &Path) -> SimProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rotor"))
            .args(["sim", "--scenario"])
            .arg(scenario)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let base_url = line.trim().to_string();
        assert!(
            base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"),
            "first line: {line:?}"
        );
        SimProcess {
            child,
            base_url,
            stdout,
        }
    }

    /// `GET /sim/stats` as JSON.
    pub async fn stats(&self) -> serde_json::Value {
        let url = format!("{}/sim/stats", self.base_url.trim_end_matches("/v1"));
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST /sim/reset`: clears the counters.
    pub async fn reset(&self) {
        let url = format!("{}/sim/reset", self.base_url.trim_end_matches("/v1"));
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(url)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Stops it with SIGTERM and returns what it wrote (stdout after the
    /// first line, and stderr).
    pub fn stop(mut self) -> (String, String) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
        let mut out = String::new();
        let _ = self.stdout.read_to_string(&mut out);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (out, err)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // Only this child, by its own handle; a no-op after `stop`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
