//! What `rotor rotate-test` shows and writes: the report (per prompt, per
//! model, overall, thresholds, the simulator's own counts) and its forms —
//! the human table, JSON (serde of [`RotateReport`]), JUnit XML and Markdown.

pub mod files;
pub mod junit;
pub mod markdown;
pub mod report;
pub mod table;
pub mod thresholds;

#[cfg(test)]
mod tests;

pub use report::{
    LastAttempt, ModelRow, Overall, PromptOutcome, RotateReport, RunInfo, SimTruth,
    describe_failure,
};
pub use thresholds::{Check, Measured, Thresholds};
