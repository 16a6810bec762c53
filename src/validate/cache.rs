//! A [`Validator`] that remembers verdicts by answer: the same code for the same
//! item always gets the same verdict (the harness is deterministic), so an
//! answer seen before is not run again. This also lets the engine's
//! `--require-valid` check and the results record share one run.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use super::pool::Validator;
use super::{ValidateError, ValidationResult};
use crate::suite::SuiteItem;

/// Entries kept before the cache starts over (bounds memory on long runs).
const MAX_ENTRIES: usize = 20_000;

/// A validator with a verdict cache keyed by (item, answer).
pub struct CachedValidator {
    validator: Validator,
    cache: Mutex<HashMap<(String, u64), ValidationResult>>,
}

impl CachedValidator {
    pub fn new(validator: Validator) -> Self {
        CachedValidator {
            validator,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The verdict on `answer` for `item`, from the cache or a sandbox run.
    pub async fn check(
        &self,
        item: &SuiteItem,
        answer: &str,
    ) -> Result<ValidationResult, ValidateError> {
        let key = (item.id.clone(), answer_hash(item, answer));
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let result = self.validator.validate(item, answer).await?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, result.clone());
        }
        Ok(result)
    }

    /// Entries in the cache (for tests).
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

fn answer_hash(item: &SuiteItem, answer: &str) -> u64 {
    let mut h = DefaultHasher::new();
    item.language.hash(&mut h);
    item.entry_point.hash(&mut h);
    item.tests.hash(&mut h);
    answer.hash(&mut h);
    h.finish()
}
