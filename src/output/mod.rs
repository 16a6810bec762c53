//! What people and scripts see: run summaries, tables, JSON, progress.

pub mod progress;
pub mod rotate;
pub mod summary;
pub mod table;
