//! Helpers shared by the integration tests: the real `rotor` binary, a real
//! `rotor sim` child process on 127.0.0.1:0, temp registries, results files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(REPO).join(rel)
}

/// The rotor binary with no API key in its environment, run from `dir`.
pub fn rotor(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rotor").expect("the rotor binary");
    cmd.current_dir(dir)
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(120));
    cmd
}

/// A `rotor sim` child process; killed when dropped.
pub struct SimProcess {
    child: Child,
    pub base_url: String,
}

impl SimProcess {
    pub fn start(scenario: &str, extra: &[&str]) -> SimProcess {
        let bin = assert_cmd::cargo::cargo_bin("rotor");
        let mut child = StdCommand::new(bin)
            .args(["sim", "--scenario", scenario])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rotor sim");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the base URL");
        let base_url = line.trim().to_string();
        assert!(
            base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"),
            "first line is the base URL: {base_url:?}"
        );
        SimProcess { child, base_url }
    }

    pub fn root(&self) -> String {
        self.base_url.trim_end_matches("/v1").to_string()
    }

    pub fn get_json(&self, path: &str) -> Value {
        let url = format!("{}{}", self.root(), path);
        let body = reqwest::blocking_get(&url);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    }

    pub fn stats(&self) -> Value {
        self.get_json("/sim/stats")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for rotor sim")
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny blocking GET on a fresh runtime (tests are sync).
mod reqwest {
    pub fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            ::reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client")
                .get(url)
                .send()
                .await
                .expect("GET")
                .text()
                .await
                .expect("body")
        })
    }
}

/// A registry with fast rotation settings (tiny backoff, short deadline) and
/// the given providers/models YAML blocks.
pub fn write_registry(dir: &Path, providers: &str, models: &str) -> PathBuf {
    let text = format!(
        "version: 1
providers:
{providers}
tiers:
  - {{name: tier1, label: fast, max_p50_ms: 2000}}
  - {{name: tier2, label: slow, max_p50_ms: 15000}}
rotation:
  policy: adaptive
  deadline_s: 5
  backoff: {{base_s: 0.01, cap_s: 0.05, factor: 2, max_retries: 3}}
  breaker: {{failures: 5, cooldown_s: 0.5}}
models:
{models}
"
    );
    let path = dir.join("registry.yaml");
    std::fs::write(&path, text).expect("write registry");
    path
}

/// A registry with one local provider and `models` (ids) under it.
pub fn simple_registry(dir: &Path, models: &[&str]) -> PathBuf {
    let models: String = models
        .iter()
        .map(|m| format!("  - {{id: \"{m}\", provider: local, status: verified, tier: tier1}}\n"))
        .collect();
    write_registry(
        dir,
        "  local: {kind: openai-compatible, base_url: \"http://127.0.0.1:9/v1\"}",
        &models,
    )
}

/// The records of a JSON Lines results file.
pub fn read_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("results file");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

pub fn attempts(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["kind"] == "attempt").collect()
}
