//! One prompt's own progress (not shared between prompts).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use super::events::FallbackReason;

/// What the driver knows about the prompt it is running.
#[derive(Debug, Clone)]
pub(crate) struct PromptState {
    /// Distinguishes prompts (whose 429 set a cooldown).
    pub serial: u64,
    /// Target indices in chain order, duplicates and unknown ids removed.
    pub chain: Vec<usize>,
    pub est_tokens: u64,
    pub start: Instant,
    pub deadline: Instant,
    pub attempts: u32,
    pub fallbacks: u32,
    /// Models that received an attempt, in order.
    pub tried: Vec<usize>,
    pub waited: Duration,
    /// The model of the latest attempt.
    pub last: Option<usize>,
    /// Models the prompt moved on from, and why.
    pub left: HashMap<usize, FallbackReason>,
    /// This prompt's wait per model after an error, and whether it is the
    /// server's hint (else backoff).
    pub not_before: HashMap<usize, (Instant, bool)>,
    /// Errors per model in this prompt.
    pub errors: HashMap<usize, u32>,
    /// Models whose context the prompt exceeded (`context_length_exceeded`).
    pub too_long: HashSet<usize>,
    pub backoff: Backoff,
}

impl PromptState {
    pub fn new(
        serial: u64,
        chain: Vec<usize>,
        est_tokens: u64,
        start: Instant,
        deadline: Duration,
        backoff: Backoff,
    ) -> Self {
        PromptState {
            serial,
            chain,
            est_tokens,
            start,
            deadline: super::clock::after(start, deadline),
            attempts: 0,
            fallbacks: 0,
            tried: Vec::new(),
            waited: Duration::ZERO,
            last: None,
            left: HashMap::new(),
            not_before: HashMap::new(),
            errors: HashMap::new(),
            too_long: HashSet::new(),
            backoff,
        }
    }

    /// The chain's first model.
    pub fn primary(&self) -> Option<usize> {
        self.chain.first().copied()
    }

    /// Records an attempt on `target`.
    pub fn note_attempt(&mut self, target: usize) {
        self.last = Some(target);
        if !self.tried.contains(&target) {
            self.tried.push(target);
        }
    }

    /// Moves on from `target` (the first reason sticks).
    pub fn leave(&mut self, target: usize, reason: FallbackReason) {
        self.left.entry(target).or_insert(reason);
    }
}
