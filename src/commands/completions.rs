//! `rotor completions SHELL` and `rotor man [--out DIR]`.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::ResultExt;

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "rotor", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(crate::exit::OK)
}

/// The man page of rotor (`rotor.1`) as roff.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// Prints rotor.1, or writes rotor.1 and rotor-COMMAND.1 pages into `--out`.
pub fn man(args: ManArgs) -> anyhow::Result<i32> {
    let Some(dir) = args.out else {
        std::io::stdout().lock().write_all(&man_page()?)?;
        return Ok(crate::exit::OK);
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .env_err()?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, &dir)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))
        .env_err()?;
    Ok(crate::exit::OK)
}
