//! Unified diffs of a file before and after a rewrite (`--write`, `--dry-run`).

use similar::TextDiff;

/// A unified diff (`--- a/PATH`, `+++ b/PATH` for a relative path, the path
/// itself for an absolute one; three lines of context), or an empty string
/// when nothing changed.
pub fn unified(old: &str, new: &str, path: &str) -> String {
    if old == new {
        return String::new();
    }
    let (a, b) = if path.starts_with('/') {
        (path.to_string(), path.to_string())
    } else {
        (format!("a/{path}"), format!("b/{path}"))
    };
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "registry.yaml");
        assert!(
            d.starts_with("--- a/registry.yaml\n+++ b/registry.yaml\n"),
            "{d}"
        );
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(unified("x\n", "x\n", "f"), "");
        assert!(
            unified("a\n", "b\n", "/tmp/r.yaml").starts_with("--- /tmp/r.yaml\n+++ /tmp/r.yaml\n")
        );
    }
}
