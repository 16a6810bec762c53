//! Helpers of the client wire tests: a canary key, a client whose timeouts
//! only the timeout tests meet (5 s; `quick_*`: 200 ms), and small servers
//! on 127.0.0.1:0.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Response;
use axum::routing::post;
use rotor::client::{CallResult, CallSpec, ClientConfig, Endpoint, HttpClient};
use rotor::secret::Secret;
use rotor::wire::Message;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const KEY: &str = "sk-or-v1-canary-5f3e9a7c1d2b4e6f8a0c";

pub static MESSAGES: LazyLock<Vec<Message>> = LazyLock::new(|| vec![Message::user("Say hi")]);

/// Timeouts no test meets unless it is about them: a debug build's server
/// on a loaded machine can take a few hundred milliseconds to answer (a
/// 100 KB body took over 200 ms beside four CPU hogs).
pub const PATIENT: Duration = Duration::from_secs(5);
/// The timeouts of the tests about timeouts.
pub const QUICK: Duration = Duration::from_millis(200);

pub fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: PATIENT,
        read_timeout: PATIENT,
        max_body_bytes: 64 * 1024,
        pool_max_idle_per_host: 4,
    }
}

pub fn client() -> HttpClient {
    HttpClient::new(config()).unwrap()
}

/// A client whose connect and read timeouts are [`QUICK`].
pub fn quick_client() -> HttpClient {
    HttpClient::new(ClientConfig {
        connect_timeout: QUICK,
        read_timeout: QUICK,
        ..config()
    })
    .unwrap()
}

pub fn spec(stream: bool) -> CallSpec<'static> {
    CallSpec {
        model: "m/x:free",
        messages: &MESSAGES,
        stream,
        max_tokens: Some(64),
        temperature: Some(0.0),
        seed: Some(7),
        total_timeout: PATIENT,
        first_byte_timeout: PATIENT,
        scheduled: None,
    }
}

/// [`spec`] with a first-byte timeout of [`QUICK`].
pub fn quick_spec(stream: bool) -> CallSpec<'static> {
    CallSpec {
        first_byte_timeout: QUICK,
        ..spec(stream)
    }
}

pub fn endpoint(base: &str) -> Endpoint {
    Endpoint {
        base_url: base.to_string(),
        api_key: Some(Secret::new(KEY)),
        headers: vec![("X-Title".into(), "rotor-test".into())],
    }
}

/// The canary key appears nowhere in the result, not even in part.
pub fn assert_no_key(r: &CallResult) {
    let dump = format!("{r:?}");
    assert!(!dump.contains(KEY), "key leaked: {dump}");
    assert!(!dump.contains("canary-5f3e"), "key piece leaked: {dump}");
}

pub async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

/// A server whose chat endpoint answers every request with `respond`.
pub async fn serve_chat<F>(respond: F) -> String
where
    F: Fn() -> Response<Body> + Clone + Send + Sync + 'static,
{
    serve(Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let respond = respond.clone();
            async move { respond() }
        }),
    ))
    .await
}

/// A body that sends each piece after its delay (milliseconds).
pub fn scripted(steps: Vec<(u64, String)>) -> Body {
    let s = futures_util::stream::unfold(steps.into_iter(), |mut it| async move {
        let (delay, text) = it.next()?;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Some((Ok::<_, Infallible>(Bytes::from(text)), it))
    });
    Body::from_stream(s)
}

pub fn sse(body: Body) -> Response<Body> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

pub fn json_response(status: u16, headers: &[(&str, String)], body: Value) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

pub fn delta(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "c1", "choices": [{"index": 0, "delta": {"content": content}}]})
    )
}

pub const USAGE: &str = "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,\"total_tokens\":9}}\n\n";

pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A raw TCP server that answers every connection with `reply` and closes.
pub async fn raw_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(reply).await;
                let _ = sock.flush().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            });
        }
    });
    format!("http://{addr}/v1")
}
