//! The SSE decoder on arbitrary bytes: it never panics, decoding the body in
//! one piece or cut into arbitrary chunks gives the same events and the same
//! error (a differential property), and every event respects the documented
//! rules (memory bound, `[DONE]`, keep-alive payloads).
//!
//! Input: `[limit, cuts, cut lengths..., stream...]`. `limit` < 64 selects a
//! tiny line/event limit (1..=64 bytes) to reach `TooLong`; otherwise 64 KiB.
//! `cuts & 0x80` feeds the stream one byte at a time; otherwise `cuts & 15`
//! chunk lengths follow, the rest of the stream being the last chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rotor::client::sse::{SseDecoder, SseError, SseEvent};

fn decode(limit: usize, chunks: &[&[u8]]) -> (Vec<SseEvent>, Result<(), SseError>) {
    let mut d = SseDecoder::new(limit);
    let mut out = Vec::new();
    for c in chunks {
        if let Err(e) = d.push(c, &mut out) {
            // Poisoned: every later call fails the same way and adds nothing.
            let before = out.len();
            assert_eq!(d.push(b"data: x\n\n", &mut out), Err(e));
            assert_eq!(d.finish(&mut out), Err(e));
            assert_eq!(out.len(), before);
            return (out, Err(e));
        }
    }
    let r = d.finish(&mut out);
    (out, r)
}

fuzz_target!(|data: &[u8]| {
    let [limit_sel, cuts, rest @ ..] = data else {
        return;
    };
    let limit = if *limit_sel < 64 {
        usize::from(*limit_sel) + 1
    } else {
        1 << 16
    };
    let (lengths, stream): (&[u8], &[u8]) = if cuts & 0x80 != 0 {
        (&[], rest)
    } else {
        let n = usize::from(cuts & 15).min(rest.len());
        rest.split_at(n)
    };
    let chunks: Vec<&[u8]> = if cuts & 0x80 != 0 {
        stream.chunks(1).collect()
    } else {
        let mut v = Vec::new();
        let mut s = stream;
        for &len in lengths {
            let (a, b) = s.split_at(usize::from(len).min(s.len()));
            v.push(a);
            s = b;
        }
        v.push(s);
        v
    };

    let whole = decode(limit, &[stream]);
    let split = decode(limit, &chunks);
    assert_eq!(whole, split, "chunking changed the decoded events");

    for ev in &whole.0 {
        match ev {
            SseEvent::Data(text) => {
                assert!(text.len() <= limit, "data event longer than the limit");
                let t = text.trim();
                assert!(!t.is_empty() && t != "[DONE]" && !t.starts_with(':'));
            }
            // Invalid UTF-8 in a comment becomes U+FFFD: bounded in characters.
            SseEvent::Comment(text) => assert!(text.chars().count() <= limit),
            SseEvent::Done => {}
        }
    }
});
