//! Throughput of the SSE decoder (`rotor::client::sse::SseDecoder`) in MB/s,
//! on a realistic OpenAI-style chat-completions stream cut into chunks of
//! several sizes: 64 bytes (about one event per read, as a token-by-token
//! server delivers it), 1 KiB and 16 KiB (a fast local server, or a stream
//! read after the fact).
//!
//! Run: `cargo bench --bench sse`. BENCHMARKS.md ("SSE decoder") has the
//! figures and what bounds them.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rotor::client::sse::{SseDecoder, SseEvent};

/// `n` content chunks of a chat-completions stream, a usage chunk with
/// `choices: []`, a keep-alive comment at the start, and `[DONE]`.
fn stream(n: usize) -> Vec<u8> {
    let mut s = String::from(": OPENROUTER PROCESSING\n\n");
    s.push_str(
        "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\
         \"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\
         \"content\":\"\"},\"finish_reason\":null}]}\n\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "data: {{\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\
             \"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\
             \"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str(
        "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\
         \"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\
         \"completion_tokens\":1000,\"total_tokens\":1010}}\n\ndata: [DONE]\n\n",
    );
    s.into_bytes()
}

fn decode(bytes: &[u8], chunk: usize) -> usize {
    let mut d = SseDecoder::new(1 << 20);
    let mut out: Vec<SseEvent> = Vec::with_capacity(16);
    let mut n = 0;
    for c in bytes.chunks(chunk) {
        // Decoding errors cannot happen on this input; the count proves the work.
        let _ = d.push(c, &mut out);
        n += out.len();
        out.clear();
    }
    let _ = d.finish(&mut out);
    n + out.len()
}

fn bench(c: &mut Criterion) {
    let bytes = stream(1000);
    let events = decode(&bytes, bytes.len());
    assert_eq!(events, 1004, "comment + role chunk + 1000 + usage + [DONE]");
    let mut g = c.benchmark_group("sse_decode");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    for chunk in [64usize, 1024, 16 * 1024] {
        g.bench_with_input(BenchmarkId::new("chunk", chunk), &chunk, |b, &chunk| {
            b.iter(|| decode(black_box(&bytes), chunk))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
