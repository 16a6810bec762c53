//! rotor's HTTP client against a minimal baseline, on the same endpoint in
//! the same run: the simulator (zero delays, `bench/scenarios/zero.yaml`) on a
//! runtime of its own thread, the clients on another.
//!
//! - `rotor`: `HttpClient::chat`, which times every step, decodes SSE with its
//!   own decoder, classifies the answer and counts tokens;
//! - `baseline`: the least a correct client does with reqwest: serialise the
//!   same request, send it, read the body (non-streaming) or split the SSE
//!   byte stream at blank lines and parse each `data:` chunk (streaming), and
//!   collect the content.
//!
//! Both at 1 request at a time and 8 at once (time per batch of 8). The ratio
//! baseline/rotor of the times is the ratio rotor/baseline of the request
//! rates. Run: `cargo bench --bench client`; BENCHMARKS.md ("Client overhead,
//! in process") has the figures.

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use futures_util::future::join_all;
use rotor::client::{CallSpec, ClientConfig, Endpoint, HttpClient};
use rotor::record::Outcome;
use rotor::sim::{Scenario, SimServer};
use rotor::suite::Suite;
use rotor::wire::{ChatChunk, ChatCompletion, ChatRequest, Message, StreamOptions};

const SCENARIO: &str = include_str!("../bench/scenarios/zero.yaml");
const MODEL: &str = "bench/a";

struct Setup {
    _sim_rt: tokio::runtime::Runtime,
    _sim: SimServer,
    base: String,
    messages: Vec<Message>,
}

fn setup() -> Setup {
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("simulator runtime");
    let suite = Suite::embedded_default().expect("embedded suite");
    let messages = suite.messages(&suite.items[0]);
    let scenario = Scenario::from_str(SCENARIO, "zero.yaml").expect("scenario");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let sim = sim_rt
        .block_on(SimServer::start(scenario, Some(suite), addr))
        .expect("simulator");
    let base = sim.base_url();
    Setup {
        _sim_rt: sim_rt,
        _sim: sim,
        base,
        messages,
    }
}

async fn rotor_call(c: &HttpClient, ep: &Endpoint, messages: &[Message], stream: bool) -> usize {
    let spec = CallSpec {
        model: MODEL,
        messages,
        stream,
        max_tokens: None,
        temperature: None,
        seed: None,
        total_timeout: Duration::from_secs(10),
        first_byte_timeout: Duration::from_secs(10),
        scheduled: None,
    };
    let r = c.chat(ep, &spec).await;
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.error_message);
    r.content.len()
}

async fn baseline_call(
    c: &reqwest::Client,
    url: &str,
    messages: &[Message],
    stream: bool,
) -> usize {
    let body = ChatRequest {
        model: MODEL.into(),
        messages: messages.to_vec(),
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        ..Default::default()
    };
    let json = serde_json::to_vec(&body).expect("encode");
    let resp = c
        .post(url)
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .expect("send");
    assert!(resp.status().is_success());
    if !stream {
        let bytes = resp.bytes().await.expect("body");
        let completion: ChatCompletion = serde_json::from_slice(&bytes).expect("json");
        return completion
            .choices
            .first()
            .and_then(|c| c.message.content.as_ref())
            .map_or(0, String::len);
    }
    let mut content = String::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut body = resp.bytes_stream();
    'read: while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.expect("chunk"));
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let Some(data) = event.strip_prefix(b"data: ") else {
                continue;
            };
            let data = &data[..data.len() - 2];
            if data == b"[DONE]" {
                break 'read;
            }
            let chunk: ChatChunk = serde_json::from_slice(data).expect("chunk json");
            for choice in chunk.choices {
                if let Some(c) = choice.delta.content {
                    content.push_str(&c);
                }
            }
        }
    }
    content.len()
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let rotor = HttpClient::new(ClientConfig::default()).expect("client");
    let ep = Endpoint {
        base_url: s.base.clone(),
        api_key: None,
        headers: Vec::new(),
    };
    let baseline = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .expect("baseline client");
    let url = format!("{}/chat/completions", s.base);
    // Both must read the same answer.
    for stream in [false, true] {
        let a = rt.block_on(rotor_call(&rotor, &ep, &s.messages, stream));
        let b = rt.block_on(baseline_call(&baseline, &url, &s.messages, stream));
        assert!(
            a > 0 && a == b,
            "stream {stream}: rotor {a} bytes, baseline {b}"
        );
    }

    for stream in [false, true] {
        let name = if stream { "stream" } else { "nonstream" };
        let mut g = c.benchmark_group(name);
        g.measurement_time(Duration::from_secs(4));
        for conc in [1usize, 8] {
            g.bench_function(BenchmarkId::new("rotor", conc), |b| {
                b.to_async(&rt).iter(|| {
                    join_all((0..conc).map(|_| rotor_call(&rotor, &ep, &s.messages, stream)))
                })
            });
            g.bench_function(BenchmarkId::new("baseline", conc), |b| {
                b.to_async(&rt).iter(|| {
                    join_all((0..conc).map(|_| baseline_call(&baseline, &url, &s.messages, stream)))
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
