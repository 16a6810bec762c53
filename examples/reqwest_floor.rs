//! The floor under rotor's request rate: the least a correct client does
//! with reqwest (the same client settings as rotor's: rustls, no proxy for
//! loopback, `TCP_NODELAY`, no redirects, one runtime worker, the same
//! allocator and release profile), with nothing of rotor's around it — no
//! engine, no timings, no records. `N` requests of the body in `BODY_FILE`
//! to `URL` (a chat-completions endpoint), `C` at a time; each answer is
//! read whole and parsed. Prints `{"requests": N,
//! "elapsed_s": …, "requests_per_s": …}`.
//!
//! ```text
//! cargo run --release --example reqwest_floor -- URL BODY_FILE N C
//! ```
//!
//! `bench/overhead.sh` runs it beside oha and rotor: the gap between this
//! floor and oha is reqwest's (on top of hyper), the gap between rotor and
//! this floor is rotor's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rotor::wire::ChatCompletion;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, body_file, n, c] = args.as_slice() else {
        return Err("usage: reqwest_floor URL BODY_FILE N C".into());
    };
    let body = bytes::Bytes::from(std::fs::read(body_file)?);
    let (n, c): (usize, usize) = (n.parse()?, c.parse()?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(c.max(32))
        .build()?;
    let url: reqwest::Url = url.parse()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let failed: usize = rt.block_on(async {
        let workers: Vec<_> = (0..c)
            .map(|_| {
                let (client, url, body, next) =
                    (client.clone(), url.clone(), body.clone(), next.clone());
                tokio::spawn(async move {
                    let mut failed = 0;
                    while next.fetch_add(1, Ordering::Relaxed) < n {
                        let sent = client
                            .post(url.clone())
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await;
                        let ok = match sent {
                            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                                Ok(b) => serde_json::from_slice::<ChatCompletion>(&b).is_ok(),
                                Err(_) => false,
                            },
                            _ => false,
                        };
                        failed += usize::from(!ok);
                    }
                    failed
                })
            })
            .collect();
        let mut failed = 0;
        for w in workers {
            failed += w.await.unwrap_or(1);
        }
        failed
    });
    let elapsed = start.elapsed().as_secs_f64();
    if failed > 0 {
        return Err(format!("{failed} of {n} requests failed").into());
    }
    println!(
        "{{\"requests\": {n}, \"elapsed_s\": {elapsed:.4}, \"requests_per_s\": {:.1}}}",
        n as f64 / elapsed
    );
    Ok(())
}
