//! Helpers of tests/sim_server.rs: a suite, a client, request bodies, an SSE
//! splitter and a body reader that survives broken bodies.

use std::time::Duration;

mod faults;
mod limits;

use futures_util::StreamExt;
use rotor::sim::{Scenario, SimServer};
use rotor::suite::Suite;
use serde_json::{Value, json};

pub const SYSTEM: &str = "You are a careful programmer.";
pub const PROMPT: &str = "Write a Python function add(a, b) that returns a + b.";
pub const PROMPT2: &str = "Write a Python function neg(x) that returns -x.";
pub const REFERENCE_ANSWER: &str = "```python\ndef add(a, b):\n    return a + b\n```\n";

pub fn suite() -> Suite {
    serde_saphyr::from_str(
        r#"
name: t
items:
  - id: add
    language: python
    prompt: "Write a Python function add(a, b) that returns a + b."
    entry_point: add
    tests: ["assert add(1, 2) == 3"]
    reference: "def add(a, b):\n    return a + b\n"
    broken: "def add(a, b):\n    return a - b\n"
  - id: neg
    language: python
    prompt: "Write a Python function neg(x) that returns -x."
    entry_point: neg
    tests: ["assert neg(1) == -1"]
    reference: "def neg(x):\n    return -x\n"
    broken: "def neg(x):\n    return x\n"
"#,
    )
    .unwrap()
}

/// Starts a simulator for `yaml` with the test suite.
pub async fn start(yaml: &str) -> SimServer {
    let scenario = Scenario::from_str(yaml, "test").unwrap_or_else(|e| panic!("{e}"));
    SimServer::start(scenario, Some(suite()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

thread_local! {
    /// One client per test thread (each test has its own thread and runtime):
    /// building a client is slow in debug builds.
    static CLIENT: reqwest::Client = reqwest::Client::builder().no_proxy().build().unwrap();
}

pub fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

pub fn request_body(model: &str, prompt: &str, stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
        "stream": stream,
    });
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub async fn chat(
    sim: &SimServer,
    model: &str,
    prompt: &str,
    stream: bool,
    include_usage: bool,
) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .json(&request_body(model, prompt, stream, include_usage))
        .send()
        .await
        .unwrap()
}

/// An SSE body split into its events.
pub struct Sse {
    /// `data:` payloads in order.
    pub data: Vec<String>,
    /// Comment lines (keep-alives).
    pub comments: usize,
    /// Comment lines before the first `data:`.
    pub comments_before_data: usize,
}

pub fn parse_sse(text: &str) -> Sse {
    let mut sse = Sse {
        data: vec![],
        comments: 0,
        comments_before_data: 0,
    };
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("data: ") {
            sse.data.push(d.to_owned());
        } else if line.starts_with(':') {
            sse.comments += 1;
            if sse.data.is_empty() {
                sse.comments_before_data += 1;
            }
        }
    }
    sse
}

/// The content deltas of a stream, joined.
pub fn stream_content(sse: &Sse) -> String {
    sse.data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// What reading a body gave.
pub struct BodyRead {
    pub bytes: Vec<u8>,
    pub error: Option<reqwest::Error>,
    /// The body ran past 300 ms (or past the request's timeout).
    pub timed_out: bool,
}

/// Reads a body until it ends, breaks, or stalls past 300 ms in total.
pub async fn read_body(r: reqwest::Response) -> BodyRead {
    let mut out = BodyRead {
        bytes: vec![],
        error: None,
        timed_out: false,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let mut stream = r.bytes_stream();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                out.timed_out = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => out.bytes.extend_from_slice(&chunk),
            Ok(Some(Err(e))) => {
                // The request's own timeout also covers the body.
                out.timed_out = e.is_timeout();
                out.error = Some(e);
                break;
            }
        }
    }
    out
}
