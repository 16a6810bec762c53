//! Writing report files: whole files atomically (a temp file in the same
//! directory, synced, then renamed over the target), summaries appended.

use std::io::{Read, Seek, SeekFrom, Write};
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
    crate::output::export::write_file_atomic(path, bytes).map_err(err)
}

/// Appends `text` to `path` (GitHub's `$GITHUB_STEP_SUMMARY`), creating it.
pub fn append(path: &Path, text: &str) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    // Text already there that does not end a line (another step's summary)
    // gets its line ended first, or this heading would be glued to it.
    let mut last = [0u8; 1];
    let unterminated = f.metadata().map_err(err)?.len() > 0
        && f.seek(SeekFrom::End(-1)).is_ok()
        && f.read_exact(&mut last).is_ok()
        && last[0] != b'\n';
    if unterminated {
        f.write_all(b"\n").map_err(err)?;
    }
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
        // Another step's text without its last newline: not glued to ours.
        std::fs::write(&s, "prev").unwrap();
        append(&s, "## rotor\n").unwrap();
        assert_eq!(std::fs::read_to_string(&s).unwrap(), "prev\n## rotor\n");
        // A new report file gets the mode any new file gets (0666 less the
        // umask), not a temp file's 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            let q = dir.path().join("new.xml");
            write_atomic(&q, b"x").unwrap();
            let plain = dir.path().join("plain");
            std::fs::write(&plain, b"").unwrap();
            assert_eq!(mode(&q), mode(&plain));
            std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o640)).unwrap();
            write_atomic(&q, b"y").unwrap();
            assert_eq!(mode(&q), 0o640, "a replaced file keeps its mode");
        }
        let e = write_atomic(&dir.path().join("sub/out.xml/x"), b"").unwrap_err();
        assert!(e.to_string().contains("out.xml"));
    }
}
