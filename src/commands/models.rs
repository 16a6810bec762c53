//! `rotor models`.
use super::Global;
use crate::cli::ModelsArgs;

pub async fn run(_args: ModelsArgs, _global: &Global) -> anyhow::Result<i32> {
    anyhow::bail!("todo")
}
