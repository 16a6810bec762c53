//! Unified diffs of a file before and after a rewrite (`--write`, `--dry-run`).

use similar::TextDiff;

/// A unified diff (`--- a/PATH`, `+++ b/PATH`, three lines of context), or an
/// empty string when nothing changed.
pub fn unified(old: &str, new: &str, path: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
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
    }
}
