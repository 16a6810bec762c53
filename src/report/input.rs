//! Which files to read (paths, directories, globs) and the `--since` /
//! `--half-life` values.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

/// The directory read when no file is named.
pub const DEFAULT_RESULTS_DIR: &str = "results";

/// A bad file argument or duration.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "no results files found in {where_}\n  hint: run `rotor probe` first, or name files: rotor report results/*.jsonl"
    )]
    NoFiles { where_: String },
    #[error(
        "{path}: no such file or directory\n  hint: check the path, or quote a glob so rotor expands it: 'results/*.jsonl'"
    )]
    Missing { path: String },
    #[error("invalid glob '{pattern}': {message}")]
    Glob { pattern: String, message: String },
    #[error("cannot list {}: {message}", path.display())]
    List { path: PathBuf, message: String },
    #[error("invalid duration '{text}'\n  hint: a number and a unit: 90s, 30m, 12h, 7d, 2w")]
    Duration { text: String },
    #[error(
        "invalid --since '{text}'\n  hint: a duration before now (7d, 12h) or a date (2026-11-01) or an RFC 3339 time"
    )]
    Since { text: String },
}

/// The files to read, sorted and without duplicates: each argument is a file,
/// a directory (its `*.jsonl` and `*.csv` files) or a glob. With no argument,
/// [`DEFAULT_RESULTS_DIR`].
pub fn resolve_inputs(args: &[String]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    if args.is_empty() {
        let dir = Path::new(DEFAULT_RESULTS_DIR);
        if dir.is_dir() {
            files.extend(list_dir(dir)?);
        }
        if files.is_empty() {
            return Err(InputError::NoFiles {
                where_: format!("{DEFAULT_RESULTS_DIR}/"),
            });
        }
        return Ok(files);
    }
    for arg in args {
        let path = Path::new(arg);
        if path.is_dir() {
            files.extend(list_dir(path)?);
        } else if path.exists() {
            files.push(path.to_path_buf());
        } else if arg.contains(['*', '?', '[']) {
            let paths = glob::glob(arg).map_err(|e| InputError::Glob {
                pattern: arg.clone(),
                message: e.to_string(),
            })?;
            files.extend(paths.flatten().filter(|p| p.is_file()));
        } else {
            return Err(InputError::Missing { path: arg.clone() });
        }
    }
    files.sort();
    files.dedup();
    // One file under two names (`r.jsonl ./r.jsonl`, a directory and a
    // file in it) is read once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        return Err(InputError::NoFiles {
            where_: args.join(" "),
        });
    }
    Ok(files)
}

/// `*.jsonl` and `*.csv` files directly in `dir`.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let entries = std::fs::read_dir(dir).map_err(|e| InputError::List {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_results_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// A file name ending in `.jsonl`, `.json` or `.csv`.
pub fn is_results_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json" | "csv")
    )
}

/// Parses `90s`, `30m`, `12h`, `7d`, `2w` (or a bare number of seconds) into
/// seconds.
pub fn parse_duration(text: &str) -> Result<f64, InputError> {
    let t = text.trim();
    let bad = || InputError::Duration {
        text: text.to_string(),
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    let secs = value * scale;
    if secs.is_finite() && secs >= 0.0 {
        Ok(secs)
    } else {
        Err(bad())
    }
}

/// `--since`: a duration before `now`, a date (midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, InputError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc());
    }
    let secs = parse_duration(t).map_err(|_| InputError::Since {
        text: text.to_string(),
    })?;
    let delta = chrono::Duration::try_milliseconds((secs * 1000.0) as i64).ok_or_else(|| {
        InputError::Since {
            text: text.to_string(),
        }
    })?;
    Ok(now
        .checked_sub_signed(delta)
        .unwrap_or(DateTime::<Utc>::MIN_UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), 90.0);
        assert_eq!(parse_duration("30m").unwrap(), 1800.0);
        assert_eq!(parse_duration("7d").unwrap(), 604_800.0);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600.0);
        assert_eq!(parse_duration("0").unwrap(), 0.0);
        assert_eq!(parse_duration("1.5h").unwrap(), 5400.0);
        for bad in ["", "d", "7y", "-1d", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn since_accepts_durations_dates_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("1d", now).unwrap().to_rfc3339(),
            "2026-11-09T12:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-01", now).unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-01T10:00:00+02:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-01T08:00:00+00:00"
        );
        assert!(parse_since("yesterday", now).is_err());
    }

    #[test]
    fn inputs_expand_dirs_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.jsonl", "b.csv", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let d = dir.path().to_string_lossy().to_string();
        let files = resolve_inputs(std::slice::from_ref(&d)).unwrap();
        assert_eq!(files.len(), 2);
        let files = resolve_inputs(&[format!("{d}/*.jsonl")]).unwrap();
        assert_eq!(files.len(), 1);
        assert!(matches!(
            resolve_inputs(&[format!("{d}/*.nothing")]),
            Err(InputError::NoFiles { .. })
        ));
        assert!(matches!(
            resolve_inputs(&[format!("{d}/missing.jsonl")]),
            Err(InputError::Missing { .. })
        ));
    }
}
