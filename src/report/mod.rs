//! `rotor report`: read results files, aggregate them per model, and hand the
//! figures to [`crate::rank`] to reorder the registry.
//!
//! # Reading
//!
//! Any number of JSON Lines files (written by `probe` and `rotate-test`) and
//! CSV files (the attempt rows the sinks write with `--csv`), default
//! `results/`. Files are streamed line by line; a line is parsed into a light
//! borrowed struct holding only the fields the report needs.
//!
//! - A last line without its newline that does not parse (a run killed
//!   mid-write) is skipped with one warning per file.
//! - A record whose `schema_version` is not [`crate::record::SCHEMA_VERSION`]
//!   is refused: `file X line N: schema_version 7 is not supported by this
//!   rotor (1)` (exit code 2).
//! - `kind: attempt` records count toward the model they were sent to.
//!   Engine events (`kind: event`: `fallback`, `wait`, `give_up`, `breaker`,
//!   `quota_exhausted`, and `request` — also accepted as `kind: request`)
//!   give the chain metrics; unknown events are ignored and missing or
//!   mistyped fields read as absent.
//! - `--since 7d` drops records older than seven days before now (or before
//!   an RFC 3339 date/time).
//!
//! # Statistics per model (all from [`crate::stats`])
//!
//! - **samples**: attempt records. **success** counts `ok` among the attempts
//!   that say something about the model: 429s whose scope is the *account*
//!   (`account_minute`, `account_day`) and `auth`/`payment` errors are left
//!   out, because another model of the same account would have met them too.
//! - **success interval**: the 95% Wilson interval of the decayed success rate,
//!   with the Kish effective sample size `(Σw)²/Σw²` as `n`.
//! - **latency, TTFT**: p50/p90/p95/p99 of successful attempts, the one
//!   percentile definition of [`crate::stats::percentile`] (type 7, linear
//!   interpolation), unweighted: a percentile of decayed samples would be a
//!   second definition. Use `--since` to drop old runs from them.
//! - **median interval**: distribution-free 95% interval of the p50 latency
//!   from order statistics: with `n` sorted values, ranks
//!   `j = ⌊n/2 − 0.98·√n⌋` and `k = ⌈n/2 + 1 + 0.98·√n⌉` (1-based, clamped to
//!   `1..=n`); the interval is `[x(j), x(k)]`.
//! - **tokens/s**: the median of the attempts' output tokens per second.
//! - **validation pass rate**: decayed share of `passed` among successful
//!   attempts whose `validation` is set, with its Wilson interval (the score
//!   uses it).
//! - **pass@1, pass@k**: per prompt (`prompt_id`), `n` validated answers of
//!   which `c` passed; pass@1 is the mean over prompts of `c / n`, pass@k the
//!   mean of `1 − C(n−c, k)/C(n, k)` with `k` the fewest answers any prompt
//!   has, when more than 1 (`--repeat`); see [`scores`]. **Not decayed**: they
//!   are estimators over counts of answers.
//! - **well-formed rate**: decayed share of validated answers with extractable
//!   code (every verdict but `no_code`), with its Wilson interval (the gate's
//!   `--min-well-formed` reads it).
//! - **429 rate**: decayed share of rate-limited attempts, and counts by scope.
//! - **cost**: input and output tokens times the model's price; free models
//!   (`:free`, or local providers) cost zero; other models only when a price
//!   list is given (`--pricing`, the JSON of `GET /models`).
//!
//! # Decay
//!
//! Every attempt weighs `w = 0.5^(age / half_life)` (half-life 7 days,
//! `--half-life`, `0` for none), where `age` is measured from the **newest
//! record read**, not from the clock: the same files ranked today or next
//! month give the same answer. The weights apply to every rate (success,
//! 429s, validation pass and well-formed rates) and, through the effective
//! sample size, to their intervals; not to pass@1 and pass@k. The sums are taken in a fixed order (records sorted by time and
//! class), so the result does not depend on the order of the input records.
//!
//! The ranking rules that use these figures are documented in [`crate::rank`].

pub mod aggregate;
pub mod build;
pub mod events;
pub mod input;
pub mod read;
mod read_lenient;
pub mod scores;
pub mod timestamp;

pub use aggregate::{Aggregator, ModelStats, Rate, Summary};
pub use build::{PriceList, Report, Row, Settings};
pub use events::{ChainMetrics, ModelChain};
pub use input::{InputError, parse_duration, parse_since, resolve_inputs};
pub use read::{ReadError, ReadStats, RecordSink, Simulated, read_files};
pub use scores::{PassAtK, PromptScores};

/// The default decay half-life: 7 days.
pub const DEFAULT_HALF_LIFE_S: f64 = 7.0 * 24.0 * 3600.0;
