//! Faults: timeouts, oversized bodies, redirects, broken connections.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use rotor::record::Outcome;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::*;

#[tokio::test]
async fn bad_json_chunk() {
    let base = serve_chat(|| {
        sse(scripted(vec![(
            0,
            "data: {not json}\n\ndata: [DONE]\n\n".into(),
        )]))
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("bad_json_chunk"))
    );
}

#[tokio::test]
async fn keepalive_only_stream_hits_the_read_timeout() {
    let base = serve_chat(|| {
        let s = futures_util::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let text = if n % 2 == 0 {
                ": OPENROUTER PROCESSING\n\n"
            } else {
                "data: : keepalive\n\n"
            };
            Some((Ok::<_, Infallible>(Bytes::from(text)), n + 1))
        });
        sse(Body::from_stream(s))
    })
    .await;
    let r = quick_client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Timeout, Some("read"))
    );
    let ms = r.latency_ms();
    assert!(
        (200.0..400.0).contains(&ms),
        "read timeout after ~200 ms, got {ms}"
    );
    assert!(r.timings.first_byte.is_some());
    assert_eq!((r.sse_events, r.timings.first_token), (0, None));
}

#[tokio::test]
async fn steady_stream_hits_the_total_deadline() {
    let base = serve_chat(|| {
        let s = futures_util::stream::unfold((), |()| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, Infallible>(Bytes::from(delta("x"))), ()))
        });
        sse(Body::from_stream(s))
    })
    .await;
    let mut s = spec(true);
    s.total_timeout = Duration::from_millis(300);
    let r = client().chat(&endpoint(&base), &s).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Timeout, Some("total"))
    );
    // The deadline covers the whole call, from when it was handed over; the
    // latency starts later, when the request went out.
    let ms = r.queue_ms() + r.latency_ms();
    assert!((300.0..450.0).contains(&ms), "{ms}");
    assert!(r.content_started && r.content.starts_with("xx"));
}

#[tokio::test]
async fn hanging_server_hits_the_first_byte_timeout() {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        }),
    );
    let base = serve(app).await;
    let r = client().chat(&endpoint(&base), &quick_spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Timeout, Some("first_byte"))
    );
    assert_eq!((r.http_status, r.timings.headers), (None, None));
    let ms = r.queue_ms() + r.latency_ms();
    assert!((200.0..400.0).contains(&ms), "{ms}");
}

#[tokio::test]
async fn body_over_the_cap_is_too_large() {
    let big = serve_chat(|| {
        let content = "y".repeat(100 * 1024);
        json_response(
            200,
            &[],
            json!({"choices": [{"message": {"content": content}}]}),
        )
    })
    .await;
    let r = client().chat(&endpoint(&big), &spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("too_large"))
    );

    // Without Content-Length (a stream of small pieces) the cap still holds.
    let endless = serve_chat(|| {
        let s = futures_util::stream::repeat_with(|| {
            Ok::<_, Infallible>(Bytes::from(delta(&"z".repeat(1000))))
        });
        sse(Body::from_stream(s))
    })
    .await;
    let r = client().chat(&endpoint(&endless), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("too_large"))
    );
    assert!(r.content.len() <= 64 * 1024);

    // One endless line never becomes an event.
    let line = serve_chat(|| {
        let s = futures_util::stream::repeat_with(|| {
            Ok::<_, Infallible>(Bytes::from("a".repeat(4096)))
        });
        sse(Body::from_stream(s))
    })
    .await;
    let r = client().chat(&endpoint(&line), &spec(true)).await;
    assert_eq!(r.error_type.as_deref(), Some("too_large"));
}

#[tokio::test]
async fn redirect_is_not_followed_and_the_key_stays_home() {
    let hits = Arc::new(AtomicUsize::new(0));
    let hits2 = hits.clone();
    let other = serve(Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let hits = hits2.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "stolen"
            }
        }),
    ))
    .await;
    let target = other.replace("127.0.0.1", "localhost") + "/chat/completions";
    let base = serve_chat(move || {
        Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", target.clone())
            .body(Body::empty())
            .unwrap()
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("redirect"))
    );
    assert_eq!(r.http_status, Some(307));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the other host got a request"
    );
    assert_no_key(&r);
}

#[tokio::test]
async fn network_errors_refused_reset_and_mid_body() {
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}/v1")
    };
    let r = client().chat(&endpoint(&refused), &spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Network, Some("connect_refused")),
        "{r:?}"
    );
    assert!(
        !r.error_message.clone().unwrap().contains("127.0.0.1"),
        "no URL in messages"
    );

    let reset = raw_server(b"").await;
    let r = client().chat(&endpoint(&reset), &spec(false)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Network, Some("reset")),
        "{r:?}"
    );

    let mid = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
          30\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\n\n\r\n",
    )
    .await;
    let r = client().chat(&endpoint(&mid), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::Network, Some("body")),
        "{r:?}"
    );
    assert!(r.content_started);
    assert_eq!(r.content, "ab");
    assert_no_key(&r);
}

#[tokio::test]
async fn invalid_utf8_in_a_stream() {
    let base = serve_chat(|| {
        sse(Body::from(
            &b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}\n\n"[..],
        ))
    })
    .await;
    let r = client().chat(&endpoint(&base), &spec(true)).await;
    assert_eq!(
        (r.outcome, r.error_type.as_deref()),
        (Outcome::InvalidResponse, Some("invalid_utf8"))
    );
}

#[tokio::test]
async fn list_models_ok_and_auth_error() {
    let app = Router::new().route(
        "/v1/models",
        get(|headers: HeaderMap| async move {
            if headers.get("authorization").is_some() {
                json_response(200, &[], json!({"data": [{"id": "m/x:free", "pricing": {"prompt": "0", "completion": "0"}}]}))
            } else {
                json_response(401, &[], json!({"error": {"code": 401, "message": "No auth credentials found"}}))
            }
        }),
    );
    let base = serve(app).await;
    let c = client();
    let list = c
        .list_models(&endpoint(&base), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(list.data[0].id, "m/x:free");
    let mut ep = endpoint(&base);
    ep.api_key = None;
    let e = c
        .list_models(&ep, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(e, rotor::client::ModelsError::Status { status: 401, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("No auth credentials found"));
}

#[tokio::test]
async fn absurd_timeouts_do_not_panic() {
    let base = serve_chat(|| {
        json_response(
            200,
            &[],
            json!({"choices": [{"message": {"content": "ok"}}]}),
        )
    })
    .await;
    let mut s = spec(false);
    s.total_timeout = Duration::MAX;
    s.first_byte_timeout = Duration::MAX;
    let r = client().chat(&endpoint(&base), &s).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
}

#[tokio::test]
async fn connections_are_reused_after_a_finished_stream() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let peers: Arc<std::sync::Mutex<Vec<SocketAddr>>> = Arc::default();
    let peers2 = peers.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            let peers = peers2.clone();
            async move {
                peers.lock().unwrap().push(peer);
                // The body ends a moment after [DONE], as on busy servers.
                sse(scripted(vec![
                    (0, format!("{}data: [DONE]\n\n", delta("hi"))),
                    (5, String::new()),
                ]))
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, svc).await;
    });
    let c = client();
    let ep = endpoint(&format!("http://{addr}/v1"));
    for _ in 0..3 {
        assert_eq!(c.chat(&ep, &spec(true)).await.outcome, Outcome::Ok);
    }
    let peers = peers.lock().unwrap();
    assert_eq!(peers.len(), 3);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one pooled connection: {peers:?}"
    );
}
