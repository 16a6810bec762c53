//! The model registry (being written).
