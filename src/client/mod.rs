//! The OpenAI-compatible HTTP client (being written).
