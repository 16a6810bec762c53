//! Streaming readers for results files: JSON Lines (every record kind) and
//! CSV (attempt rows), into light borrowed views handed to a [`RecordSink`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::read_lenient::{lenient_bool, lenient_f64, lenient_str, lenient_u32};
pub use super::timestamp::parse_ts;
use crate::record::{Outcome, RateLimitScope, SCHEMA_VERSION};

/// Why a results file could not be read. Every variant names the file, and the
/// line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} line {line}: schema_version {found} is not supported by this rotor ({SCHEMA_VERSION})\n  hint: read it with the rotor version that wrote it, or leave the file out",
        path.display()
    )]
    Schema {
        path: PathBuf,
        line: u64,
        found: u64,
    },
    #[error("{} line {line}: not a rotor record: {message}\n  hint: results files hold one JSON object per line, as written by `rotor probe --out`", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// One attempt, borrowed from the line being read.
#[derive(Debug, Clone, Copy)]
pub struct AttemptView<'a> {
    /// Unix epoch milliseconds.
    pub ts_ms: i64,
    pub provider: &'a str,
    pub model: &'a str,
    pub outcome: Outcome,
    pub scope: Option<RateLimitScope>,
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub validation: Option<&'a str>,
    /// The suite prompt it answered (pass@k is computed per prompt).
    pub prompt_id: Option<&'a str>,
}

/// One engine event (or logical request), borrowed from the line being read.
/// Fields the event does not carry, or carries with another type, are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventView<'a> {
    pub ts_ms: i64,
    /// `fallback`, `wait`, `give_up`, `breaker`, `quota_exhausted`, `request`, …
    pub event: &'a str,
    pub model: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// `wait_ms`, or `duration_ms`.
    pub wait_ms: Option<f64>,
    pub waited_ms: Option<f64>,
    pub model_used: Option<&'a str>,
    pub primary: Option<&'a str>,
    pub attempts: Option<u32>,
    pub hops: Option<u32>,
    pub ok: Option<bool>,
}

/// Receives the records as they are read.
pub trait RecordSink {
    fn attempt(&mut self, a: &AttemptView<'_>);
    fn event(&mut self, e: &EventView<'_>);
}

/// What reading found besides the records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    pub files: Vec<String>,
    pub lines: u64,
    pub attempts: u64,
    pub events: u64,
    /// Records older than `--since`.
    pub skipped_old: u64,
    /// Truncated lines skipped (one warning per file).
    pub skipped_truncated: u64,
    /// Attempts the embedded simulator answered, counted in `attempts`.
    pub simulated: u64,
    /// Attempts the embedded simulator answered, left out because real ones
    /// were read too (see [`Simulated`]).
    pub simulated_left_out: u64,
    /// The simulator scenarios those records came from.
    pub simulated_scenarios: Vec<String>,
    /// Records left out because the same record was read before (from a
    /// `--csv` twin of a results file, or a copy): each is counted once.
    pub duplicates: u64,
    /// The files those records were in.
    pub duplicate_files: Vec<String>,
}

/// What to do with records the embedded simulator answered (their timings
/// are time-scaled, not a real model's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated {
    /// Leave them out, counted in [`ReadStats::simulated_left_out`].
    Skip,
    /// Read them like any other, counted in [`ReadStats::simulated`].
    Include,
}

/// Reads every file in turn (JSON Lines, or CSV by extension), passing records
/// at or after `since_ms` to `sink`.
pub fn read_files(
    paths: &[PathBuf],
    since_ms: Option<i64>,
    simulated: Simulated,
    sink: &mut dyn RecordSink,
) -> Result<ReadStats, ReadError> {
    let mut stats = ReadStats::default();
    // JSON Lines before CSV: the CSV twin of a results file is the one
    // whose records are named as seen before.
    let mut order: Vec<&PathBuf> = paths.iter().collect();
    order.sort_by_key(|p| is_csv(p));
    // One file holds each record once (a run resumed into it appends new
    // ones): only records read from several files are compared.
    let mut seen = (paths.len() > 1).then(Seen::default);
    stats.files = paths.iter().map(|p| p.display().to_string()).collect();
    for path in order {
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
        let reader = BufReader::with_capacity(256 * 1024, file);
        let duplicates_before = stats.duplicates;
        let mut r = FileReader {
            path,
            since_ms,
            simulated,
            sink: &mut *sink,
            stats: &mut stats,
            warned: false,
            seen: seen.as_mut(),
        };
        if is_csv(path) {
            r.read_csv(reader)?;
        } else {
            r.read_jsonl(reader)?;
        }
        if stats.duplicates > duplicates_before {
            stats.duplicate_files.push(path.display().to_string());
        }
    }
    Ok(stats)
}

fn is_csv(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("csv")
}

/// The JSON fields report reads; everything else is skipped by serde.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    run_id: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_u32")]
    repeat: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    attempt: Option<u32>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    provider: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    rate_limit_scope: Option<RateLimitScope>,
    #[serde(default, deserialize_with = "lenient_f64")]
    latency_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    ttft_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    tokens_per_s: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    input_tokens: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    output_tokens: Option<f64>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    validation: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    prompt_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    simulated: Option<Cow<'a, str>>,
    // Engine events.
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    event: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    from: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    to: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    reason: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_f64")]
    wait_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    waited_ms: Option<f64>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    model_used: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient_str")]
    primary: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_u32")]
    attempts: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    hops: Option<u32>,
    #[serde(default, deserialize_with = "lenient_bool")]
    ok: Option<bool>,
}

/// Only the version, to name it when a line of another schema does not parse.
#[derive(Deserialize)]
struct VersionOnly {
    #[serde(default)]
    schema_version: Option<u64>,
}

struct FileReader<'r> {
    path: &'r Path,
    since_ms: Option<i64>,
    simulated: Simulated,
    sink: &'r mut dyn RecordSink,
    stats: &'r mut ReadStats,
    warned: bool,
    /// `None` when a single file is read.
    seen: Option<&'r mut Seen>,
}

/// The records read so far, by a 64-bit hash of what identifies one: its
/// run, kind, event, model, prompt, repeat, attempt and time stamp (to the
/// nanosecond, as written). 8 bytes a record (about 18 MB for a million); two
/// different records share a hash with a probability of about 3e-8 in a
/// million.
#[derive(Default)]
struct Seen(HashSet<u64, BuildHasherDefault<AsIs>>);

/// The hasher of [`Seen`]: its keys are hashes already.
#[derive(Default)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Seen {
    /// False when `l` (with run id `run`) was read before.
    fn first(&mut self, run: &str, l: &Line<'_>) -> bool {
        let mut h = std::hash::DefaultHasher::new();
        (
            run,
            l.kind.as_deref(),
            l.event.as_deref(),
            l.model.as_deref(),
            l.prompt_id.as_deref(),
            l.repeat,
            l.attempt,
            l.ts.as_deref(),
        )
            .hash(&mut h);
        self.0.insert(h.finish())
    }
}

/// The start of a record a sink writes, used to find a complete record glued
/// to a truncated one (a run killed mid-line, then resumed into the same file).
const RECORD_START: &[u8] = b"{\"schema_version\"";

impl FileReader<'_> {
    fn read_jsonl(&mut self, mut reader: impl BufRead) -> Result<(), ReadError> {
        let mut buf = Vec::with_capacity(4096);
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| ReadError::Io {
                    path: self.path.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            self.stats.lines += 1;
            let complete = buf.last() == Some(&b'\n');
            let mut text = trim_ascii(&buf);
            // A byte order mark some editors put first is not part of the
            // record.
            if line_no == 1 {
                text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            }
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Line<'_>>(text) {
                Ok(line) => self.accept(&line, line_no)?,
                Err(e) => {
                    if let Ok(v) = serde_json::from_slice::<VersionOnly>(text) {
                        self.check_version(v.schema_version, line_no)?;
                    }
                    if !complete {
                        self.truncated(line_no);
                        continue;
                    }
                    let glued = find_last(text, RECORD_START).filter(|&i| i > 0);
                    match glued.map(|i| serde_json::from_slice::<Line<'_>>(&text[i..])) {
                        Some(Ok(line)) => {
                            self.truncated(line_no);
                            self.accept(&line, line_no)?;
                        }
                        _ => {
                            return Err(ReadError::Malformed {
                                path: self.path.to_path_buf(),
                                line: line_no,
                                message: e.to_string(),
                            });
                        }
                    }
                }
            }
        }
    }

    fn truncated(&mut self, line_no: u64) {
        self.stats.skipped_truncated += 1;
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                "{} line {line_no}: skipped a truncated record (a run stopped mid-write?)",
                self.path.display()
            );
        }
    }

    fn check_version(&self, found: Option<u64>, line: u64) -> Result<(), ReadError> {
        match found {
            Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
            Some(found) => Err(ReadError::Schema {
                path: self.path.to_path_buf(),
                line,
                found,
            }),
            None => Err(self.malformed(line, "no schema_version")),
        }
    }

    fn malformed(&self, line: u64, message: impl Into<String>) -> ReadError {
        ReadError::Malformed {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    fn accept(&mut self, l: &Line<'_>, line_no: u64) -> Result<(), ReadError> {
        self.check_version(l.schema_version, line_no)?;
        if let Some(seen) = self.seen.as_deref_mut()
            && let Some(run) = l.run_id.as_deref().filter(|r| !r.is_empty())
            && !seen.first(run, l)
        {
            self.stats.duplicates += 1;
            return Ok(());
        }
        let ts_ms = match l.ts.as_deref().map(parse_ts) {
            Some(Some(ms)) => ms,
            _ => return Err(self.malformed(line_no, "missing or invalid 'ts' (RFC 3339 time)")),
        };
        if self.since_ms.is_some_and(|s| ts_ms < s) {
            self.stats.skipped_old += 1;
            return Ok(());
        }
        let kind = l.kind.as_deref().unwrap_or("attempt");
        if let Some(scenario) = l.simulated.as_deref().filter(|s| !s.is_empty()) {
            let attempt = kind == "attempt";
            if !self.stats.simulated_scenarios.iter().any(|s| s == scenario) {
                self.stats.simulated_scenarios.push(scenario.to_string());
            }
            if self.simulated == Simulated::Skip {
                if attempt {
                    self.stats.simulated_left_out += 1;
                }
                return Ok(());
            }
            if attempt {
                self.stats.simulated += 1;
            }
        }
        match kind {
            "attempt" => {
                let (Some(model), Some(outcome)) = (l.model.as_deref(), l.outcome) else {
                    return Err(self.malformed(line_no, "an attempt needs 'model' and 'outcome'"));
                };
                self.stats.attempts += 1;
                self.sink.attempt(&AttemptView {
                    ts_ms,
                    provider: l.provider.as_deref().unwrap_or(""),
                    model,
                    outcome,
                    scope: l.rate_limit_scope,
                    latency_ms: l.latency_ms,
                    ttft_ms: l.ttft_ms,
                    tokens_per_s: l.tokens_per_s,
                    input_tokens: l.input_tokens.and_then(to_u64),
                    output_tokens: l.output_tokens.and_then(to_u64),
                    validation: l.validation.as_deref(),
                    prompt_id: l.prompt_id.as_deref(),
                });
            }
            "event" | "request" => {
                let event = if kind == "request" {
                    "request"
                } else {
                    l.event.as_deref().unwrap_or("")
                };
                self.stats.events += 1;
                self.sink.event(&EventView {
                    ts_ms,
                    event,
                    model: l.model.as_deref(),
                    provider: l.provider.as_deref(),
                    from: l.from.as_deref(),
                    to: l.to.as_deref(),
                    reason: l.reason.as_deref(),
                    wait_ms: l.wait_ms.or(l.duration_ms),
                    waited_ms: l.waited_ms,
                    model_used: l.model_used.as_deref(),
                    primary: l.primary.as_deref(),
                    attempts: l.attempts,
                    hops: l.hops,
                    ok: l.ok,
                });
            }
            // Kinds from a later rotor of the same schema: nothing to count.
            _ => {}
        }
        Ok(())
    }

    fn read_csv(&mut self, reader: impl std::io::Read) -> Result<(), ReadError> {
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(reader);
        let io = |e: csv::Error| ReadError::Io {
            path: self.path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        };
        let headers = csv.byte_headers().map_err(io)?.clone();
        let mut current = csv::ByteRecord::new();
        let mut next = csv::ByteRecord::new();
        let mut have = read_row(&mut csv, &mut current, self.path)?;
        while have {
            let more = read_row(&mut csv, &mut next, self.path)?;
            let line_no = current.position().map_or(0, |p| p.line());
            self.stats.lines += 1;
            if current.len() != headers.len() {
                if more {
                    return Err(self.malformed(
                        line_no,
                        format!(
                            "{} fields where the header has {}",
                            current.len(),
                            headers.len()
                        ),
                    ));
                }
                self.truncated(line_no);
            } else {
                match current.deserialize::<Line<'_>>(Some(&headers)) {
                    Ok(line) => self.accept(&line, line_no)?,
                    Err(_) if !more => self.truncated(line_no),
                    Err(e) => return Err(self.malformed(line_no, e.to_string())),
                }
            }
            std::mem::swap(&mut current, &mut next);
            have = more;
        }
        Ok(())
    }
}

fn read_row<R: std::io::Read>(
    csv: &mut csv::Reader<R>,
    rec: &mut csv::ByteRecord,
    path: &Path,
) -> Result<bool, ReadError> {
    csv.read_byte_record(rec).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &b[s..=e],
        _ => &[],
    }
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn to_u64(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}
