//! The models list as text blocks: reordering and appending items without
//! touching anything else (see the module docs of `registry::write`).

use std::path::Path;
use std::str::FromStr;

use yaml_edit::Document;

use super::{NewModel, WriteError};
use crate::registry::Registry;

/// Where the models list's items are.
struct Layout {
    /// Column of the items' `-`.
    dash_indent: usize,
    /// Column of the items' first key.
    key_indent: usize,
    /// Start of each item's block (its comments and blank lines above it).
    block_starts: Vec<usize>,
    /// End of the last item's content (trailing blank lines and top-level
    /// comments after it are not part of it).
    end: usize,
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn layout(text: &str, path: &Path) -> Result<Layout, WriteError> {
    let shape = |what: &str| WriteError::Shape {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let doc = Document::from_str(text).map_err(|e| WriteError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let seq = doc
        .as_mapping()
        .and_then(|m| m.get_sequence("models"))
        .ok_or_else(|| shape("'models:' is not a list"))?;
    let mut starts = Vec::new();
    let mut dash_indent = None;
    let mut key_indent = 0;
    for v in seq.values() {
        let s = usize::try_from(v.byte_range().start).unwrap_or(usize::MAX);
        if s > text.len() || !text.is_char_boundary(s) {
            return Err(shape("an item of 'models:' could not be located"));
        }
        let ls = line_start(text, s);
        let prefix = &text[ls..s];
        let trimmed = prefix.trim_start_matches(' ');
        let rest = trimmed.strip_prefix('-').unwrap_or("x");
        if !rest.chars().all(|c| c == ' ') || rest.is_empty() {
            return Err(shape(
                "'models:' items must be block items written '- id: ...'",
            ));
        }
        let d = prefix.len() - trimmed.len();
        if dash_indent.is_some_and(|x| x != d) {
            return Err(shape("'models:' items are not all at the same indentation"));
        }
        dash_indent = Some(d);
        key_indent = s - ls;
        starts.push(ls);
    }
    let (Some(dash_indent), Some(&last)) = (dash_indent, starts.last()) else {
        return Err(shape("'models:' has no items"));
    };
    let mut block_starts = Vec::with_capacity(starts.len());
    for &ls in &starts {
        let mut b = ls;
        while b > 0 {
            let prev = line_start(text, b - 1);
            let line = &text[prev..b];
            if is_blank(line) || (is_comment(line) && indent(line) <= dash_indent) {
                b = prev;
            } else {
                break;
            }
        }
        block_starts.push(b);
    }
    let mut end = line_end(text, last);
    let mut pos = end;
    while pos < text.len() {
        let next = line_end(text, pos);
        let line = &text[pos..next];
        if is_blank(line) {
            pos = next;
        } else if indent(line) > dash_indent {
            end = next;
            pos = next;
        } else {
            break;
        }
    }
    Ok(Layout {
        dash_indent,
        key_indent,
        block_starts,
        end,
    })
}

/// Splits a block into its leading blank lines (which stay with the slot) and
/// the rest (which moves with the item), the rest ending with a newline.
fn split_block(block: &str) -> (&str, String) {
    let mut cut = 0;
    while cut < block.len() {
        let next = line_end(block, cut);
        if !is_blank(&block[cut..next]) {
            break;
        }
        cut = next;
    }
    let mut body = block[cut..].to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (&block[..cut], body)
}

/// Reorders the models list to `order` (a permutation of its ids).
pub(super) fn reorder(text: &str, path: &Path, order: &[String]) -> Result<String, WriteError> {
    let registry = Registry::from_str(text, path).map_err(WriteError::Invalid)?;
    let ids: Vec<&str> = registry.models.iter().map(|m| m.id.as_str()).collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    let mut sorted_order: Vec<&str> = order.iter().map(String::as_str).collect();
    sorted_order.sort_unstable();
    if sorted_ids != sorted_order {
        return Err(WriteError::Shape {
            path: path.to_path_buf(),
            what: "the new order of 'models:' does not list each model once (a rotor bug)".into(),
        });
    }
    if ids.iter().zip(order).all(|(a, b)| *a == b) {
        return Ok(text.to_string());
    }
    let lay = layout(text, path)?;
    if lay.block_starts.len() != ids.len() {
        return Err(WriteError::Shape {
            path: path.to_path_buf(),
            what: "'models:' could not be matched item by item".into(),
        });
    }
    let blocks: Vec<(&str, String)> = (0..ids.len())
        .map(|i| {
            let end = lay.block_starts.get(i + 1).copied().unwrap_or(lay.end);
            split_block(&text[lay.block_starts[i]..end])
        })
        .collect();
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..lay.block_starts[0]]);
    for (slot, id) in order.iter().enumerate() {
        let from = ids.iter().position(|x| x == id).unwrap_or(slot);
        out.push_str(blocks[slot].0);
        out.push_str(&blocks[from].1);
    }
    out.push_str(&text[lay.end..]);
    Ok(out)
}

/// Appends `models` to the models list.
pub(super) fn append(text: &str, path: &Path, models: &[NewModel]) -> Result<String, WriteError> {
    let lay = layout(text, path)?;
    let last_start = lay.block_starts.last().copied().unwrap_or(lay.end);
    let (sep, _) = split_block(&text[last_start..lay.end]);
    let sep = if lay.block_starts.len() > 1 { sep } else { "" };
    let mut out = text[..lay.end].to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let pad = " ".repeat(lay.key_indent);
    let dash = format!(
        "{}-{}",
        " ".repeat(lay.dash_indent),
        " ".repeat(lay.key_indent.saturating_sub(lay.dash_indent + 1).max(1))
    );
    for m in models {
        out.push_str(sep);
        out.push_str(&format!("{dash}id: {}\n", scalar(&m.id)));
        out.push_str(&format!("{pad}provider: {}\n", scalar(&m.provider)));
        out.push_str(&format!("{pad}status: {}\n", m.status.as_str()));
        out.push_str(&format!("{pad}tier: {}\n", scalar(&m.tier)));
        if let Some(c) = m.context_length {
            out.push_str(&format!("{pad}context_length: {c}\n"));
        }
        if let Some(n) = &m.notes {
            out.push_str(&format!("{pad}notes: {}\n", scalar(n)));
        }
    }
    out.push_str(&text[lay.end..]);
    Ok(out)
}

/// A YAML scalar for `s`: plain when that reads back as the same string,
/// double-quoted (JSON escaping, valid YAML) otherwise.
pub(super) fn scalar(s: &str) -> String {
    let plain_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/:@+-".contains(c));
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let special = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    ) || s.parse::<f64>().is_ok()
        || s.ends_with(':');
    if plain_chars && first_ok && !special {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
    }
}
