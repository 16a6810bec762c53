//! How the engine sends one call: a small object-safe trait, implemented by
//! the real [`HttpClient`] and by scripted fakes in tests.

use std::future::Future;
use std::pin::Pin;

use super::config::Target;
use crate::client::{CallResult, CallSpec, HttpClient};

/// A boxed, sendable future (what [`Transport::call`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one chat-completions call to a target. Never retries: the engine
/// decides what happens next from the [`CallResult`].
pub trait Transport: Send + Sync {
    fn call<'a>(&'a self, target: &'a Target, spec: &'a CallSpec<'a>) -> BoxFuture<'a, CallResult>;
}

impl Transport for HttpClient {
    fn call<'a>(&'a self, target: &'a Target, spec: &'a CallSpec<'a>) -> BoxFuture<'a, CallResult> {
        Box::pin(self.chat(&target.endpoint, spec))
    }
}
