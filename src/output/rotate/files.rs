//! Writing report files: whole files atomically (a temp file in the same
//! directory, synced, then renamed over the target), summaries appended.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Replaces `path` with `bytes` atomically; a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Appends `text` to `path` (GitHub's `$GITHUB_STEP_SUMMARY`), creating it.
pub fn append(path: &Path, text: &str) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.flush().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_append_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.xml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let leftovers = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file left behind");
        let s = dir.path().join("summary.md");
        append(&s, "a\n").unwrap();
        append(&s, "b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&s).unwrap(), "a\nb\n");
        let e = write_atomic(&dir.path().join("sub/out.xml/x"), b"").unwrap_err();
        assert!(e.to_string().contains("out.xml"));
    }
}
