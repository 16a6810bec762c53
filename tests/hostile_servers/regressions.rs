//! Single behaviours of the catalogue looked at closely: the simulator's
//! redirect trap, the reset before the headers, and the bugs the catalogue
//! found (each with the case that showed it).

use std::time::Duration;

use rotor::record::Outcome;
use rotor::sim::{Scenario, SimServer};

use crate::support::*;

/// A one-model scenario with `fault` at probability 1.
async fn one(fault: &str) -> SimServer {
    let yaml = format!(
        "name: one\ntime_scale: 0.1\ndefaults: {{ttft_ms: 100, output_tokens: 12}}\nmodels:\n  - {{id: m, faults: {{{fault}: 1}}}}\n"
    );
    let s = Scenario::from_str(&yaml, "test").unwrap();
    SimServer::start(s, None, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_default_redirect_target_is_a_trap_that_counts_followers() {
    let sim = one("redirect").await;
    let url = format!("{}/chat/completions", sim.base_url());
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    // A naive client that follows redirects. reqwest drops Authorization
    // when the host changes (127.0.0.1 -> localhost), so the trap sees the
    // request without the key.
    let naive = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = naive
        .post(&url)
        .bearer_auth(canary())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410, "the trap answers");
    // A client that re-sends the key on its own.
    let trap = format!("http://localhost:{}/sim/redirected", sim.addr().port());
    naive
        .post(&trap)
        .bearer_auth(canary())
        .send()
        .await
        .unwrap();
    let s = sim.stats();
    assert_eq!((s.redirects_followed, s.redirects_with_key), (2, 1));
    // rotor's client follows nothing.
    let r = client()
        .chat(&endpoint(&sim.base_url()), &spec("m", true))
        .await;
    assert_eq!(r.error_type.as_deref(), Some("redirect"));
    assert_eq!(sim.stats().redirects_followed, 2);
}

#[tokio::test]
async fn reset_before_headers_sends_no_status_line() {
    let sim = one("reset_before_headers").await;
    let addr = sim.addr();
    // Raw TCP: whatever comes back must not be an HTTP status line.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), sock.read_to_end(&mut buf))
        .await
        .expect("the connection was not closed");
    assert!(buf.is_empty(), "got {:?}", String::from_utf8_lossy(&buf));
    let e = read.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    // The handler went away with the connection.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while sim.stats().in_flight > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.stats().in_flight, 0);
    let r = client()
        .chat(&endpoint(&sim.base_url()), &spec("m", false))
        .await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Network, Some("reset")),
        "{r:?}"
    );
}

// Regression: with the header deadline equal to the whole-call deadline (as
// the engine sets them), a server that never answered was recorded as
// `total` rather than the more precise `first_byte`.
#[tokio::test]
async fn a_hang_is_first_byte_even_when_both_deadlines_coincide() {
    let sim = one("hang").await;
    let mut s = spec("m", true);
    s.total_timeout = READ;
    s.first_byte_timeout = READ;
    let started = std::time::Instant::now();
    let r = client().chat(&endpoint(&sim.base_url()), &s).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Timeout, Some("first_byte")),
        "{r:?}"
    );
    let took = started.elapsed();
    assert!(took >= READ && took < READ + SLACK, "{took:?}");
}

#[test]
fn the_docs_list_every_behaviour_of_the_catalogue() {
    let doc = include_str!("../../docs/hostile-servers.md");
    let scenario = Scenario::load(std::path::Path::new(HOSTILE)).unwrap();
    for m in &scenario.models {
        let short = m.id.trim_start_matches("hostile/");
        assert!(
            doc.contains(&format!("| `{short}` |")),
            "docs/hostile-servers.md lacks {short}"
        );
        let fault = rotor::sim::FaultKind::ALL
            .into_iter()
            .find(|k| m.faults.unwrap().get(*k) == 1.0)
            .unwrap();
        assert!(
            doc.contains(&format!("| `{fault}` |")),
            "docs lack the fault {fault}"
        );
    }
}
