//! rotor: benchmark, validate and rank LLM models served over OpenAI-compatible APIs.
//!
//! The binary is a thin shell around [`run`]; tests call the library directly.

pub mod client;
pub mod engine;
pub mod exit;
pub mod record;
pub mod registry;
pub mod secret;
pub mod sim;
pub mod suite;
pub mod wire;
