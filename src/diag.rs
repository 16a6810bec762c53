//! `file:line:column` diagnostics shared by every YAML loader (registry, suites,
//! simulator scenarios).
//!
//! Every problem found in a file becomes a [`LoadError`] that says where it is, what is
//! wrong and how to fix it:
//!
//! ```text
//! registry.yaml:42:9: unknown field 'colour', expected one of id, provider, ...
//!   hint: remove it, or check the spelling (fields: id, provider, ...)
//! ```
//!
//! [`parse_yaml`] turns serde-saphyr's syntax and type errors into this form (adding the
//! hint serde-saphyr does not give, e.g. for a bare `invalid u64`), and
//! [`LoadError::at_spanned`] builds the same for semantic checks made after parsing, at
//! the location a [`Spanned`] value recorded.

mod explain;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

/// Files larger than this are refused before parsing: no rotor file comes close.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The hint given for an empty file unless a loader sets its own.
const EMPTY_HINT: &str = "write a YAML document in it; see the example in README.md";

/// A 1-based line and column (in characters) inside a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    /// The position of a serde-saphyr location, `None` when it is unknown.
    pub fn of_location(loc: &Location) -> Option<Pos> {
        (loc.line() > 0).then(|| Pos {
            line: loc.line(),
            column: loc.column(),
        })
    }

    /// Where a [`Spanned`] value was written (the use site, for an alias).
    pub fn of_spanned<T>(value: &Spanned<T>) -> Option<Pos> {
        Pos::of_location(&value.referenced)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A file that could not be read, or whose content is invalid.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (missing, a directory, no permission, not UTF-8).
    #[error("{}: cannot read the file: {source}\n  hint: {hint}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: String,
    },
    /// The file holds nothing but whitespace and comments.
    #[error("{}: the file is empty\n  hint: {hint}", path.display())]
    Empty { path: PathBuf, hint: String },
    /// A syntax, type or semantic error, at a place in the file when it is known.
    #[error("{}{}: {what}\n  hint: {hint}", path.display(), PosSuffix(*pos))]
    Invalid {
        path: PathBuf,
        pos: Option<Pos>,
        what: String,
        hint: String,
    },
}

/// Displays `:line:column`, or nothing for an unknown position.
struct PosSuffix(Option<Pos>);

impl fmt::Display for PosSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pos) => write!(f, ":{pos}"),
            None => Ok(()),
        }
    }
}

impl LoadError {
    /// A problem at `line:column` of `path`.
    pub fn at(
        path: &Path,
        line: u64,
        column: u64,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::at_pos(path, Some(Pos { line, column }), what, hint)
    }

    /// A problem at an optional position of `path`. Control characters in
    /// `what` and `hint` (names and values quoted from the file) are escaped.
    pub fn at_pos(
        path: &Path,
        pos: Option<Pos>,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        LoadError::Invalid {
            path: path.to_path_buf(),
            pos,
            what: escape_controls(what.into()),
            hint: escape_controls(hint.into()),
        }
    }

    /// A problem with a value parsed as [`Spanned`], reported where it was written.
    pub fn at_spanned<T>(
        path: &Path,
        value: &Spanned<T>,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::at_pos(path, Pos::of_spanned(value), what, hint)
    }

    /// An empty file, with a hint saying what should be in it.
    pub fn empty(path: &Path, hint: impl Into<String>) -> Self {
        LoadError::Empty {
            path: path.to_path_buf(),
            hint: hint.into(),
        }
    }

    /// The file the problem is in.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Read { path, .. }
            | LoadError::Empty { path, .. }
            | LoadError::Invalid { path, .. } => path,
        }
    }

    /// Where in the file, when known.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            LoadError::Invalid { pos, .. } => *pos,
            _ => None,
        }
    }

    /// What is wrong, without the location or the hint.
    pub fn what(&self) -> String {
        match self {
            LoadError::Read { source, .. } => format!("cannot read the file: {source}"),
            LoadError::Empty { .. } => "the file is empty".to_string(),
            LoadError::Invalid { what, .. } => what.clone(),
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> &str {
        match self {
            LoadError::Read { hint, .. }
            | LoadError::Empty { hint, .. }
            | LoadError::Invalid { hint, .. } => hint,
        }
    }

    /// `path:line:column` (or just the path when the position is unknown).
    pub fn location(&self) -> String {
        format!("{}{}", self.path().display(), PosSuffix(self.pos()))
    }

    /// Replaces the hint of an [`LoadError::Empty`] error (loaders know what belongs in
    /// their files); other errors are returned unchanged.
    pub fn with_empty_hint(self, new_hint: &str) -> Self {
        match self {
            LoadError::Empty { path, .. } => LoadError::Empty {
                path,
                hint: new_hint.to_string(),
            },
            other => other,
        }
    }
}

/// Reads a text file for a loader, refusing huge files and naming the path in errors.
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let read_err = |source: io::Error| {
        let hint = match source.kind() {
            io::ErrorKind::NotFound => {
                "check the path; a relative path is resolved from the current directory".to_string()
            }
            io::ErrorKind::PermissionDenied => "check the file's permissions".to_string(),
            io::ErrorKind::InvalidData => "save the file as UTF-8 text".to_string(),
            io::ErrorKind::IsADirectory => "give the path of a file, not a directory".to_string(),
            _ => "check that the path names a readable file".to_string(),
        };
        LoadError::Read {
            path: path.to_path_buf(),
            source,
            hint,
        }
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError::at_pos(
            path,
            None,
            format!(
                "the file is {} bytes, more than the {} bytes rotor reads",
                meta.len(),
                MAX_FILE_BYTES
            ),
            "check the path: this does not look like a rotor YAML file",
        ));
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    String::from_utf8(bytes).map_err(|e| {
        // Where the first byte that is not UTF-8 is, as for any other error.
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() as u64 + 1;
        LoadError::at_pos(
            path,
            Some(Pos { line, column }),
            "the file is not UTF-8 text".to_string(),
            "save the file as UTF-8 (a Latin-1 or UTF-16 editor setting, or a binary file?)",
        )
    })
}

/// Parses one YAML document into `T`, turning every error into a [`LoadError`] with
/// `file:line:column` and a hint.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, LoadError> {
    parse_yaml_with_hints(text, path, &[])
}

/// Like [`parse_yaml`], with hints for wrongly typed values keyed by field name:
/// `("p50_ms", "a whole number of milliseconds, e.g. 880")` turns a bare
/// `invalid u64` at `p50_ms: fast` into a message that says what was expected.
pub fn parse_yaml_with_hints<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    key_hints: &[(&str, &str)],
) -> Result<T, LoadError> {
    if is_blank(text) {
        return Err(LoadError::empty(path, EMPTY_HINT));
    }
    serde_saphyr::from_str::<T>(text).map_err(|err| from_yaml_error(&err, text, path, key_hints))
}

/// Converts a serde-saphyr error into a [`LoadError`]; `text` is the parsed source, used
/// to find the key a wrongly typed value belongs to.
pub fn from_yaml_error(
    err: &serde_saphyr::Error,
    text: &str,
    path: &Path,
    key_hints: &[(&str, &str)],
) -> LoadError {
    let mut pos = err.location().as_ref().and_then(Pos::of_location);
    let raw = UserMessageFormatter.format_message(innermost(err));
    let message = sanitize(&raw);
    // The parser places a tab at the start of the scalar it was reading
    // (often the line before): point at the tab itself.
    if message.to_lowercase().contains("found a tab")
        && let Some(p) = pos
        && let Some(tab) = first_tab_from(text, p.line)
    {
        pos = Some(tab);
    }
    let key = pos.and_then(|p| key_at(text, p));
    let key_hint = key
        .as_deref()
        .and_then(|k| key_hints.iter().find(|(name, _)| *name == k))
        .map(|(_, hint)| (*hint).to_string());
    let (what, hint) = explain::explain(&message, key.as_deref(), key_hint);
    LoadError::at_pos(path, pos, what, hint)
}

/// The first tab in a line's indentation at or after line `from` (1-based).
fn first_tab_from(text: &str, from: u64) -> Option<Pos> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent].find('\t').map(|col| Pos {
                line: i as u64 + 1,
                column: col as u64 + 1,
            })
        })
}

/// True when the text holds only whitespace, comments and document markers.
pub fn is_blank(text: &str) -> bool {
    yaml_lines(text).all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

fn innermost(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    loop {
        match err {
            serde_saphyr::Error::AliasError { error, .. }
            | serde_saphyr::Error::WithSnippet { error, .. } => err = error,
            other => return other,
        }
    }
}

/// `text` with its control characters escaped (`\u{1b}`), so that names and values
/// quoted from a hostile file cannot inject terminal sequences or fake lines into a
/// message.
pub fn escape_controls(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Backticks become single quotes; control characters are escaped so that a hostile
/// file cannot inject terminal sequences or fake lines into the message.
fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '`' => out.push('\''),
            c if c.is_control() => out.extend(c.escape_debug()),
            c => out.push(c),
        }
    }
    out
}

/// The mapping key written just before `pos` on its line (`  p50_ms: fast` → `p50_ms`).
fn key_at(text: &str, pos: Pos) -> Option<String> {
    let line_index = usize::try_from(pos.line.checked_sub(1)?).ok()?;
    let line = yaml_lines(text).nth(line_index)?;
    let column = usize::try_from(pos.column.saturating_sub(1)).ok()?;
    let before: String = line.chars().take(column).collect();
    let before = before.trim_end().strip_suffix(':')?;
    let key = before
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .next()?
        .trim_matches(|c| c == '"' || c == '\'');
    // Raw file text: escaped like the message before it is quoted in one.
    (!key.is_empty()).then(|| sanitize(key))
}

/// The lines of `text` as YAML counts them: LF, CRLF and a lone CR each end a
/// line (`str::lines` does not split at a lone CR).
fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        p50_ms: Option<u64>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Fast,
        SlowAndSteady,
    }

    fn err(text: &str) -> LoadError {
        parse_yaml_with_hints::<Doc>(
            text,
            Path::new("x.yaml"),
            &[("p50_ms", "a whole number of milliseconds")],
        )
        .unwrap_err()
    }

    #[test]
    fn unknown_field_has_location_and_field_list() {
        let e = err("name: a\ncolour: red\n");
        assert_eq!(e.location(), "x.yaml:2:1");
        assert!(e.what().contains("unknown field 'colour'"), "{e}");
        assert!(e.hint().contains("fields: name, p50_ms, mode"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("x.yaml:2:1: unknown field 'colour'"),
            "{shown}"
        );
        assert!(shown.contains("\n  hint: remove it"), "{shown}");
    }

    #[test]
    fn wrong_type_gets_the_key_hint() {
        let e = err("name: a\np50_ms: fast\n");
        assert_eq!(e.pos(), Some(Pos { line: 2, column: 9 }));
        assert_eq!(e.what(), "invalid u64 for 'p50_ms'");
        assert_eq!(e.hint(), "a whole number of milliseconds");
        let e = err("{name: a, p50_ms: -3}");
        assert_eq!(e.hint(), "a whole number of milliseconds");
    }

    // Found by fuzzing: YAML ends lines at a lone CR, `str::lines` does not.
    #[test]
    fn key_hints_follow_yaml_line_breaks() {
        for text in ["name: a\rp50_ms: fast\r", "name: a\r\np50_ms: fast\r\n"] {
            let e = err(text);
            assert_eq!(e.pos(), Some(Pos { line: 2, column: 9 }), "{text:?}");
            assert_eq!(e.what(), "invalid u64 for 'p50_ms'", "{text:?}");
            assert_eq!(e.hint(), "a whole number of milliseconds");
        }
        // A comment before a CR is not the whole file.
        assert!(!is_blank("# c\rname: a\r"));
        assert!(matches!(err("# c\rp50_ms: 1\r"), LoadError::Invalid { .. }));
        assert!(is_blank("# c\r\r---\r"));
    }

    #[test]
    fn unknown_variant_lists_the_choices() {
        let e = err("name: a\nmode: quick\n");
        assert_eq!(e.location(), "x.yaml:2:7");
        assert_eq!(e.hint(), "use one of: fast, slow-and-steady");
    }

    #[test]
    fn empty_and_comment_only_files_are_empty() {
        for text in ["", "  \n", "# only a comment\n---\n"] {
            assert!(matches!(err(text), LoadError::Empty { .. }), "{text:?}");
        }
        let e = err("").with_empty_hint("add a suite");
        assert_eq!(
            e.to_string(),
            "x.yaml: the file is empty\n  hint: add a suite"
        );
    }

    #[test]
    fn duplicate_keys_and_missing_fields() {
        let e = err("name: a\nname: b\n");
        assert_eq!(e.location(), "x.yaml:2:1");
        assert!(e.hint().contains("only once"));
        let e = err("p50_ms: 3\n");
        assert!(e.what().contains("missing field 'name'"), "{e}");
        assert!(e.hint().contains("add 'name:'"), "{e}");
    }

    #[test]
    fn control_characters_are_escaped() {
        let e = err("name: a\n\"bad\\u001b[31m\": 1\n");
        assert!(!e.to_string().contains('\u{1b}'), "{e:?}");
    }

    // Found by fuzzing: the key in "… for 'key'" came raw from the file.
    #[test]
    fn keys_quoted_in_messages_are_escaped_too() {
        let e = err("name: >\n  k\u{f}: \u{0}\n");
        assert!(e.what().contains(" for '"), "{e}");
        assert!(!e.what().chars().any(char::is_control), "{:?}", e.what());
    }

    // Found by fuzzing: names from the file (YAML escapes such as "\e[31m").
    #[test]
    fn semantic_errors_escape_what_they_quote() {
        let e = LoadError::at(
            Path::new("r.yaml"),
            3,
            5,
            "tier 't\u{1b}[1m'",
            "one of: a\nb",
        );
        assert_eq!(e.what(), "tier 't\\u{1b}[1m'");
        assert_eq!(e.hint(), "one of: a\\nb");
        assert_eq!(escape_controls("plain 'ü'".into()), "plain 'ü'");
    }

    #[test]
    fn read_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        let e = read_text(&missing).unwrap_err();
        assert!(e.to_string().contains("nope.yaml"), "{e}");
        assert!(e.hint().contains("check the path"));
        let e = read_text(dir.path()).unwrap_err();
        assert!(e.hint().contains("not a directory"), "{e}");
    }

    #[test]
    fn spanned_errors_use_the_value_location() {
        #[derive(Deserialize)]
        struct S {
            id: Spanned<String>,
        }
        let s: S = parse_yaml("\n  id: x\n", Path::new("s.yaml")).unwrap();
        let e = LoadError::at_spanned(Path::new("s.yaml"), &s.id, "bad id", "fix it");
        assert_eq!(e.to_string(), "s.yaml:2:7: bad id\n  hint: fix it");
    }
}
