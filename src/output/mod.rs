//! What people and scripts see: run summaries, tables, JSON, progress.

pub mod charts;
pub mod csv;
pub mod diff;
pub mod export;
pub mod html;
pub mod json;
pub mod markdown;
pub mod progress;
pub mod rotate;
pub mod summary;
pub mod table;
pub mod text;
