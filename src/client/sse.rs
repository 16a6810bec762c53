//! A small Server-Sent Events decoder over raw bytes (pure: no I/O, no clock).
//!
//! Push body chunks in as they arrive, get [`SseEvent`]s out. The caller stamps
//! each event with the time its chunk arrived, which is why rotor does not use
//! an off-the-shelf SSE client (those also reconnect by re-sending the POST).
//!
//! What it follows from the WHATWG SSE parsing rules, and where it departs:
//! - Lines end in LF, CRLF or a lone CR; a CR at the end of one chunk and an LF
//!   at the start of the next are one line ending.
//! - A blank line dispatches the event; `data:` lines (with or without the
//!   space after the colon) are joined with `\n`; `event:`, `id:`, `retry:` and
//!   unknown fields are ignored.
//! - A line starting with `:` is a comment and is delivered at once as
//!   [`SseEvent::Comment`] (keep-alives such as `: OPENROUTER PROCESSING`).
//! - A data payload that is empty or itself starts with `:` (some servers send
//!   `data: : keepalive`) is a [`SseEvent::Comment`] too, never a data event.
//! - `data: [DONE]` is [`SseEvent::Done`].
//! - One UTF-8 byte-order mark at the start of the stream is skipped.
//! - **Departure:** the spec discards an event that is not followed by a blank
//!   line at end of stream. OpenAI-compatible servers sometimes omit the last
//!   blank line (or even the last line ending), so [`SseDecoder::finish`]
//!   delivers whatever `data:` it holds. The caller decides whether such a
//!   final payload was complete (rotor treats a final payload that is not
//!   valid JSON as a truncated stream).
//! - Bytes are kept as bytes until an event is dispatched; each data payload
//!   is then validated as UTF-8 (a chunk boundary inside a character is fine).
//! - Memory is bounded: a line, or the data of one event, longer than the
//!   limit is an error ([`SseError::TooLong`]), not unbounded growth.
//!
//! After an error the decoder is poisoned: every later call returns the error.

/// One decoded item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The payload of one event (its `data:` lines joined with `\n`).
    Data(String),
    /// A comment line or a keep-alive payload; its text without the colon.
    Comment(String),
    /// `data: [DONE]`, the OpenAI end-of-stream marker.
    Done,
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or the data of one event exceeded `limit` bytes.
    #[error("an SSE line or event exceeds {limit} bytes")]
    TooLong { limit: usize },
    /// A data payload was not valid UTF-8.
    #[error("an SSE data payload is not valid UTF-8")]
    InvalidUtf8,
}

impl SseError {
    /// The machine-readable `error_type` the client reports for this error.
    pub fn error_type(self) -> &'static str {
        match self {
            SseError::TooLong { .. } => "too_large",
            SseError::InvalidUtf8 => "invalid_utf8",
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental SSE decoder; see the module docs for the exact rules.
#[derive(Debug)]
pub struct SseDecoder {
    limit: usize,
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    pending_cr: bool,
    first_line: bool,
    failed: Option<SseError>,
}

impl SseDecoder {
    /// A decoder that refuses lines or events longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        SseDecoder {
            limit,
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            pending_cr: false,
            first_line: true,
            failed: None,
        }
    }

    /// Feeds one chunk; complete events are appended to `out` (events decoded
    /// before an error are kept in `out`).
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.push_inner(chunk, out);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    /// Ends the stream: a last line without its line ending and a last event
    /// without its blank line are still delivered (see the module docs).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.finish_inner(out);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn push_inner(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        while !chunk.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.extend_line(&chunk[..i])?;
                    self.pending_cr = chunk[i] == b'\r';
                    self.end_line(out)?;
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.extend_line(chunk)?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    fn finish_inner(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.pending_cr = false;
        if !self.line.is_empty() {
            self.end_line(out)?;
        }
        self.dispatch(out)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(SseError::TooLong { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::replace(&mut self.first_line, false) && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        let result = self.process_line(&line, out);
        // Reuse the allocation for the next line.
        line.clear();
        self.line = line;
        result
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if let Some(text) = line.strip_prefix(b":") {
            out.push(SseEvent::Comment(comment_text(text)));
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        if field == b"data" {
            let extra = value.len() + usize::from(self.has_data);
            if self.data.len() + extra > self.limit {
                return Err(SseError::TooLong { limit: self.limit });
            }
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !std::mem::replace(&mut self.has_data, false) {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.data);
        let text = String::from_utf8(bytes).map_err(|_| SseError::InvalidUtf8)?;
        let trimmed = text.trim();
        let event = if trimmed == "[DONE]" {
            SseEvent::Done
        } else if trimmed.is_empty() {
            SseEvent::Comment(String::new())
        } else if let Some(rest) = trimmed.strip_prefix(':') {
            SseEvent::Comment(rest.trim().to_string())
        } else {
            SseEvent::Data(text)
        };
        out.push(event);
        Ok(())
    }
}

fn comment_text(text: &[u8]) -> String {
    let text = text.strip_prefix(b" ").unwrap_or(text);
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, Result<(), SseError>) {
        let mut d = SseDecoder::new(1 << 16);
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = d.push(c, &mut out) {
                return (out, Err(e));
            }
        }
        let r = d.finish(&mut out);
        (out, r)
    }

    fn decode(bytes: &[u8]) -> Vec<SseEvent> {
        let (out, r) = decode_chunks(&[bytes]);
        r.unwrap();
        out
    }

    fn data(s: &str) -> SseEvent {
        SseEvent::Data(s.to_string())
    }

    #[test]
    fn lf_crlf_and_cr_line_endings() {
        let want = vec![data("a"), data("b"), SseEvent::Done];
        assert_eq!(decode(b"data: a\n\ndata: b\n\ndata: [DONE]\n\n"), want);
        assert_eq!(
            decode(b"data: a\r\n\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n"),
            want
        );
        assert_eq!(decode(b"data: a\r\rdata: b\r\rdata: [DONE]\r\r"), want);
    }

    #[test]
    fn cr_and_lf_split_across_chunks_are_one_line_ending() {
        // If the CR/LF pair were counted twice, "a" and "b" would be separate
        // events; counted once, they are one two-line event.
        let (out, r) = decode_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        r.unwrap();
        assert_eq!(out, vec![data("a\nb")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        assert_eq!(
            decode(b"data: {\"a\":\ndata: 1}\n\n"),
            vec![data("{\"a\":\n1}")]
        );
    }

    #[test]
    fn data_with_or_without_space_and_other_fields_ignored() {
        assert_eq!(
            decode(
                b"event: message\nid: 7\nretry: 100\ndata:x\n\ndata:  two spaces\n\nfoo: bar\n\n"
            ),
            vec![data("x"), data(" two spaces")]
        );
    }

    #[test]
    fn comments_are_delivered_at_once_and_keepalive_payloads_are_comments() {
        assert_eq!(
            decode(b": OPENROUTER PROCESSING\n\ndata: : keepalive\n\ndata:\n\ndata: {}\n\n"),
            vec![
                SseEvent::Comment("OPENROUTER PROCESSING".into()),
                SseEvent::Comment("keepalive".into()),
                SseEvent::Comment(String::new()),
                data("{}"),
            ]
        );
        // A comment arrives before the blank line that ends its block.
        let mut d = SseDecoder::new(100);
        let mut out = Vec::new();
        d.push(b": ping\n", &mut out).unwrap();
        assert_eq!(out, vec![SseEvent::Comment("ping".into())]);
    }

    #[test]
    fn bom_at_stream_start_is_skipped_even_when_split() {
        let (out, r) = decode_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
        r.unwrap();
        assert_eq!(out, vec![data("a")]);
        // A BOM later in the stream is payload, not skipped.
        assert_eq!(
            decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
            vec![data("a")],
            "a field named BOM+data is unknown and ignored"
        );
    }

    #[test]
    fn utf8_split_inside_a_character_is_fine() {
        let text = "data: héllo ✓\n\n".as_bytes();
        let pos = text.iter().position(|&b| b == 0xE2).unwrap() + 1;
        let (out, r) = decode_chunks(&[&text[..pos], &text[pos..]]);
        r.unwrap();
        assert_eq!(out, vec![data("héllo ✓")]);
    }

    #[test]
    fn invalid_utf8_is_an_error_and_poisons() {
        let mut d = SseDecoder::new(100);
        let mut out = Vec::new();
        let e = d
            .push(b"data: ok\n\ndata: \xFF\xFE\n\n", &mut out)
            .unwrap_err();
        assert_eq!(e, SseError::InvalidUtf8);
        assert_eq!(e.error_type(), "invalid_utf8");
        assert_eq!(out, vec![data("ok")], "events before the error are kept");
        assert_eq!(d.push(b"data: x\n\n", &mut out), Err(SseError::InvalidUtf8));
    }

    #[test]
    fn a_line_over_the_limit_is_an_error() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        d.push(b"data: 0123456789", &mut out).unwrap();
        assert_eq!(
            d.push(b"abcdef", &mut out),
            Err(SseError::TooLong { limit: 16 })
        );
        // Many short data lines of one event are bounded too.
        let mut d = SseDecoder::new(16);
        let e = d
            .push(b"data: 0123456\ndata: 0123456\ndata: 0\n", &mut out)
            .unwrap_err();
        assert_eq!(e.error_type(), "too_large");
    }

    #[test]
    fn eof_delivers_a_last_event_without_blank_line_or_line_ending() {
        assert_eq!(
            decode(b"data: a\n\ndata: [DONE]\n"),
            vec![data("a"), SseEvent::Done]
        );
        assert_eq!(
            decode(b"data: a\n\ndata: [DONE]"),
            vec![data("a"), SseEvent::Done]
        );
        assert_eq!(decode(b"data: {\"trunc"), vec![data("{\"trunc")]);
        assert_eq!(
            decode(b": only a comment"),
            vec![SseEvent::Comment("only a comment".into())]
        );
        assert_eq!(decode(b""), vec![]);
    }

    #[test]
    fn done_with_surrounding_whitespace() {
        assert_eq!(decode(b"data:[DONE] \n\n"), vec![SseEvent::Done]);
    }

    fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"data: {\"choices\":[{\"delta\":{\"content\":\"h\xC3\xA9\"}}]}".to_vec()),
            Just(b"data:x".to_vec()),
            Just(b"data: \xE2\x9C\x93".to_vec()),
            Just(b": OPENROUTER PROCESSING".to_vec()),
            Just(b"data: : keepalive".to_vec()),
            Just(b"data: [DONE]".to_vec()),
            Just(b"event: message".to_vec()),
            Just(b"id: 3".to_vec()),
            Just(Vec::new()),
            "[a-z :]{0,12}".prop_map(|s| s.into_bytes()),
        ];
        let ending = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
        (
            any::<bool>(),
            prop::collection::vec((piece, ending), 0..24),
            any::<bool>(),
        )
            .prop_map(|(bom, lines, cut_last)| {
                let mut v = if bom { BOM.to_vec() } else { Vec::new() };
                for (line, end) in &lines {
                    v.extend_from_slice(line);
                    v.extend_from_slice(end);
                }
                if cut_last && !v.is_empty() {
                    v.pop();
                }
                v
            })
    }

    proptest! {
        #[test]
        fn any_rechunking_gives_the_same_events(
            stream in stream_strategy(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
            one_byte in any::<bool>(),
        ) {
            let whole = decode_chunks(&[&stream]);
            let chunks: Vec<&[u8]> = if one_byte {
                stream.chunks(1).collect()
            } else {
                let mut points: Vec<usize> =
                    cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
                points.sort_unstable();
                let mut prev = 0;
                let mut v = Vec::new();
                for p in points {
                    v.push(&stream[prev..p]);
                    prev = p;
                }
                v.push(&stream[prev..]);
                v
            };
            let split = decode_chunks(&chunks);
            prop_assert_eq!(whole, split);
        }
    }
}
