//! `--resume FILE`: continue a run from its results file.
//!
//! A logical prompt is finished when the file holds its `request` record
//! (written when the engine is done with it: answered or given up). Resuming
//! skips finished `(model, prompt, repeat)` items, keeps the run id, appends
//! to the same file and starts the summary from the attempts already there,
//! so the final table covers the whole run and no item is recorded twice.
//! A partial last line (the process was killed mid-write) is cut off first.
//! Only the records of the file's first run id count (the run resumed):
//! `--out` appends, so a file may hold other runs after it.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use crate::exit::{Failure, ResultExt};
use crate::record::{AttemptRecord, EventRecord, SCHEMA_VERSION};

/// What a results file says about a run.
#[derive(Debug, Default)]
pub struct Resume {
    pub path: PathBuf,
    pub run_id: Option<String>,
    /// Finished items: (model, prompt_id, repeat); `model` is the chain's
    /// primary for rotate-test.
    pub done: HashSet<(String, String, u32)>,
    /// The attempts already recorded (for the summary).
    pub attempts: Vec<AttemptRecord>,
    /// The event records already written (`request`, `fallback`, `wait`,
    /// `breaker`, `give_up`, …): rotate-test rebuilds the finished prompts
    /// and the engine's counters of the earlier part from them.
    pub events: Vec<EventRecord>,
    /// Bytes of a partial last line that were cut off.
    pub cut_bytes: u64,
}

impl Resume {
    pub fn is_done(&self, model: &str, prompt_id: &str, repeat: u32) -> bool {
        self.done
            .contains(&(model.to_string(), prompt_id.to_string(), repeat))
    }
}

/// Refuses to continue a run against another backend than the one it began
/// on (`simulated`: the scenario answering now, `None` for a real server):
/// simulated and real figures, or two scenarios', would mix in one run.
pub fn check_backend(r: &Resume, simulated: Option<&str>) -> anyhow::Result<()> {
    let Some(before) = r.attempts.first().map(|a| a.simulated.as_deref()) else {
        return Ok(());
    };
    if before == simulated {
        return Ok(());
    }
    let said = |s: Option<&str>| match s {
        Some(scenario) => format!("the simulator's scenario {scenario}"),
        None => "a real server".to_string(),
    };
    Err(Failure::input(anyhow!(
        "{}: this run began against {}, and would continue against {}\n  hint: resume with the backend it began with (the same --sim SCENARIO, --base-url or key), or start a new run with --out",
        r.path.display(),
        said(before),
        said(simulated)
    )))
}

/// Reads `path` (a results file of `command`), cutting a partial last line.
pub fn load(path: &Path, command: &str) -> anyhow::Result<Resume> {
    let cut_bytes = cut_partial_line(path)?;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .input_err()?;
    let mut resume = Resume {
        path: path.to_path_buf(),
        cut_bytes,
        ..Resume::default()
    };
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line
            .with_context(|| format!("cannot read {}", path.display()))
            .input_err()?;
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}:{}", path.display(), n + 1);
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            Failure::input(anyhow!(
                "{}: not a results record ({e})\n  hint: --resume takes a JSON Lines file written by rotor {command}",
                where_()
            ))
        })?;
        let version = value["schema_version"].as_u64();
        if version != Some(u64::from(SCHEMA_VERSION)) {
            return Err(Failure::input(anyhow!(
                "{}: schema_version {} is not this rotor's ({SCHEMA_VERSION})\n  hint: resume with the rotor version that wrote the file, or start a new run",
                where_(),
                version.map_or("missing".to_string(), |v| v.to_string())
            )));
        }
        if let Some(c) = value["command"].as_str()
            && c != command
        {
            return Err(Failure::input(anyhow!(
                "{}: the file holds a `rotor {c}` run, not `rotor {command}`\n  hint: resume it with rotor {c} --resume",
                where_()
            )));
        }
        if resume.run_id.is_none() {
            resume.run_id = value["run_id"].as_str().map(str::to_string);
        }
        if value["run_id"].as_str() != resume.run_id.as_deref() {
            continue; // another run appended to the same file
        }
        match value["kind"].as_str() {
            Some("attempt") => {
                if let Ok(a) = serde_json::from_value::<AttemptRecord>(value) {
                    resume.attempts.push(a);
                }
            }
            Some("event") => {
                let Ok(e) = serde_json::from_value::<EventRecord>(value) else {
                    continue;
                };
                if e.event != "request" {
                    resume.events.push(e);
                    continue;
                }
                let model = e
                    .fields
                    .get("primary")
                    .and_then(|v| v.as_str())
                    .or(e.model.as_deref())
                    .unwrap_or_default();
                if let (Some(p), Some(r)) = (&e.prompt_id, e.repeat) {
                    resume.done.insert((model.to_string(), p.clone(), r));
                }
                resume.events.push(e);
            }
            _ => {}
        }
    }
    Ok(resume)
}

/// Cuts the file after its last newline; returns the bytes removed.
fn cut_partial_line(path: &Path) -> anyhow::Result<u64> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} to resume it", path.display()))
        .input_err()?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Ok(0);
    }
    // Look back in blocks for the last newline.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).env_err()?;
        file.read_exact(&mut buf[..n]).env_err()?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                file.set_len(keep).env_err()?;
            }
            return Ok(len - keep);
        }
        end = start;
    }
    file.set_len(0).env_err()?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_last_line_is_cut_and_finished_items_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let request = r#"{"schema_version":1,"kind":"event","run_id":"abc","ts":"2026-01-01T00:00:00Z","command":"probe","event":"request","model":"m","prompt_id":"p","repeat":1,"ok":true}"#;
        std::fs::write(&path, format!("{request}\n{{\"schema_version\":1,\"ki")).unwrap();
        let r = load(&path, "probe").unwrap();
        assert_eq!(r.cut_bytes, 23);
        assert_eq!(r.run_id.as_deref(), Some("abc"));
        assert!(r.is_done("m", "p", 1));
        assert!(!r.is_done("m", "p", 0));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{request}\n")
        );
        let err = load(&path, "rotate-test").unwrap_err();
        assert!(
            format!("{err:#}").contains("rotor probe --resume"),
            "{err:#}"
        );
    }

    #[test]
    fn only_the_records_of_the_first_run_id_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let request = |run: &str, prompt: &str| {
            format!(
                r#"{{"schema_version":1,"kind":"event","run_id":"{run}","ts":"2026-01-01T00:00:00Z","command":"rotate-test","event":"request","model":"m","prompt_id":"{prompt}","repeat":0,"primary":"m","ok":true}}"#
            )
        };
        let fallback = r#"{"schema_version":1,"kind":"event","run_id":"abc","ts":"2026-01-01T00:00:00Z","command":"rotate-test","event":"fallback","prompt_id":"p","repeat":0,"from":"m","to":"n","reason":"rate_limited"}"#;
        std::fs::write(
            &path,
            format!(
                "{fallback}\n{}\n{}\n",
                request("abc", "p"),
                request("xyz", "q")
            ),
        )
        .unwrap();
        let r = load(&path, "rotate-test").unwrap();
        assert_eq!(r.run_id.as_deref(), Some("abc"));
        assert!(r.is_done("m", "p", 0));
        assert!(!r.is_done("m", "q", 0), "another run's prompt");
        let events: Vec<&str> = r.events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["fallback", "request"]);
    }

    #[test]
    fn another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"schema_version\":9,\"kind\":\"attempt\"}\n").unwrap();
        let err = load(&path, "probe").unwrap_err();
        assert!(format!("{err:#}").contains("schema_version 9"), "{err:#}");
        assert_eq!(crate::exit::code_of(&err), crate::exit::INPUT);
    }
}
