//! The embedded simulator (being written).
