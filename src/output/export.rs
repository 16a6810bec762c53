//! One exporter per format, each turning a [`Report`] into bytes (the caller
//! decides where they go: stdout, or a file written atomically).

use crate::report::Report;

/// Why an export failed (in practice only on serialisation bugs).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write CSV: {0}")]
    Csv(String),
}

/// A report format.
pub trait Exporter {
    /// The whole document.
    fn export(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

/// Formats an optional number of milliseconds for tables: `—` when unknown.
pub fn ms_cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 10_000.0 => format!("{:.1}s", x / 1000.0),
        Some(x) => format!("{x:.0}"),
        None => "—".into(),
    }
}

/// A fraction as a percentage cell: `—` when unknown.
pub fn pct_cell(v: Option<f64>) -> String {
    v.map(crate::rank::pct).unwrap_or_else(|| "—".into())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, synced, then renamed over `path`. The file keeps the mode of
/// the one it replaces; a new one gets the usual `0666` less the umask (a
/// temporary file's own `0600` would make a report unreadable to others).
pub fn write_file_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".rotor-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
