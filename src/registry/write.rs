//! Lossless rewrites of registry.yaml: the user's comments, blank lines, key
//! order and quoting survive; only what changed is touched.
//!
//! - Scalars (`status`, `tier`, `stats.*`) and `rotation.order` entries are
//!   edited in place with yaml-edit, which keeps every comment.
//! - The models list is reordered by cutting the text into one block per item
//!   — the item with the comments and blank lines above it (comments at the
//!   item's indentation or less belong to the item below; deeper ones to the
//!   item above) — and reassembling the blocks in the new order. Blank lines
//!   between items stay where they were.
//! - New models are appended to the list as text.
//! - The result must load as a valid registry before anything is written;
//!   [`write_atomic`] then replaces the file with a temporary file in the same
//!   directory (written, synced, renamed), so a failure leaves the old file
//!   as it was.

mod blocks;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use yaml_edit::{Document, Mapping};

use super::{Registry, Status};
use crate::diag::LoadError;

/// New measured figures for a model's `stats:`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsUpdate {
    /// `None` removes the key (no successful attempt to measure).
    pub p50_ms: Option<u64>,
    pub success_rate: Option<f64>,
    pub samples: Option<u64>,
    pub measured: Option<NaiveDate>,
    pub source: String,
}

/// What to change in one model's entry (`None`: leave it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelEdit {
    pub status: Option<Status>,
    pub tier: Option<String>,
    pub stats: Option<StatsUpdate>,
}

/// A model to append to the list.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    pub id: String,
    pub provider: String,
    pub status: Status,
    pub tier: String,
    pub context_length: Option<u64>,
    pub notes: Option<String>,
}

/// Every change of one rewrite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryEdit {
    /// Edits by model id.
    pub models: BTreeMap<String, ModelEdit>,
    /// The new chain, written to `rotation.order` when the file has one.
    pub chain: Option<Vec<String>>,
    /// The new order of the models list: a permutation of the current ids.
    pub file_order: Option<Vec<String>>,
    pub add: Vec<NewModel>,
}

/// Why the registry could not be rewritten. The file is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: cannot edit the file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {what}\n  hint: rotor rewrites block-style YAML (one `- id: ...` item per model); edit this part by hand", path.display())]
    Shape { path: PathBuf, what: String },
    #[error("the rewritten registry would not load (a rotor bug; nothing was written):\n{0}")]
    Invalid(#[source] LoadError),
    #[error("{} changed while rotor was working; nothing was written\n  hint: run the command again", path.display())]
    Changed { path: PathBuf },
    #[error("cannot write {}: {source}\n  hint: the old file is unchanged", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Applies `edit` to the registry text `text` (read from `path`) and returns
/// the new text, checked to load as a valid registry.
pub fn apply(text: &str, path: &Path, edit: &RegistryEdit) -> Result<String, WriteError> {
    let shape = |what: String| WriteError::Shape {
        path: path.to_path_buf(),
        what,
    };
    let current = Registry::from_str(text, path).map_err(WriteError::Invalid)?;
    let doc = Document::from_str(text).map_err(|e| WriteError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let root = doc
        .as_mapping()
        .ok_or_else(|| shape("the document is not a mapping".into()))?;
    let models = root
        .get_sequence("models")
        .ok_or_else(|| shape("'models:' is not a list".into()))?;
    if models.len() != current.models.len() {
        return Err(shape("'models:' could not be matched item by item".into()));
    }
    for (i, model) in current.models.iter().enumerate() {
        let Some(e) = edit.models.get(&model.id) else {
            continue;
        };
        let item = models
            .get(i)
            .and_then(|n| n.as_mapping().cloned())
            .ok_or_else(|| shape(format!("model '{}' is not a mapping", model.id)))?;
        if let Some(status) = e.status.filter(|s| *s != model.status) {
            item.set("status", status.as_str());
        }
        if let Some(tier) = e.tier.as_ref().filter(|t| model.tier.as_ref() != Some(*t)) {
            set_near(&item, "tier", tier.as_str(), &["status"]);
        }
        if let Some(stats) = &e.stats {
            update_stats(&item, stats);
        }
    }
    if let Some(chain) = &edit.chain {
        update_order(&root, chain, path)?;
    }
    let mut out = doc.to_string();
    if let Some(order) = &edit.file_order {
        out = blocks::reorder(&out, path, order)?;
    }
    if !edit.add.is_empty() {
        out = blocks::append(&out, path, &edit.add)?;
    }
    Registry::from_str(&out, path).map_err(WriteError::Invalid)?;
    Ok(out)
}

/// Sets `key`, inserting it after the first of `after` present when it is new.
fn set_near(m: &Mapping, key: &str, value: impl yaml_edit::AsYaml, after: &[&str]) {
    if m.contains_key(key) {
        m.set(key, value);
        return;
    }
    match after.iter().find(|k| m.contains_key(**k)) {
        Some(k) => {
            m.insert_after(*k, key, value);
        }
        None => m.set(key, value),
    }
}

const STATS_KEYS: [&str; 5] = ["p50_ms", "success_rate", "samples", "measured", "source"];

fn update_stats(item: &Mapping, s: &StatsUpdate) {
    let measured = s.measured.map(|d| d.format("%Y-%m-%d").to_string());
    let rate = s.success_rate.map(|r| (r * 1000.0).round() / 1000.0);
    let Some(stats) = item.get_mapping("stats") else {
        let mut b = yaml_edit::MappingBuilder::new();
        if let Some(p) = s.p50_ms {
            b = b.pair("p50_ms", p);
        }
        if let Some(r) = rate {
            b = b.pair("success_rate", r);
        }
        if let Some(n) = s.samples {
            b = b.pair("samples", n);
        }
        if let Some(d) = &measured {
            b = b.pair("measured", d.as_str());
        }
        let built = b.pair("source", s.source.as_str()).build_document();
        if let Some(mapping) = built.as_mapping() {
            if item.contains_key("notes") {
                item.insert_before("notes", "stats", mapping);
            } else {
                item.set("stats", mapping);
            }
        }
        return;
    };
    // Keys keep their place; a new key goes before the next canonical key present.
    let put = |key: &str, value: Option<&dyn yaml_edit::AsYaml>| {
        let Some(v) = value else {
            stats.remove(key);
            return;
        };
        if stats.contains_key(key) {
            stats.set(key, v);
            return;
        }
        let pos = STATS_KEYS.iter().position(|k| *k == key).unwrap_or(0);
        match STATS_KEYS[pos + 1..]
            .iter()
            .find(|k| stats.contains_key(**k))
        {
            Some(next) => {
                stats.insert_before(*next, key, v);
            }
            None => stats.set(key, v),
        }
    };
    put(
        "p50_ms",
        s.p50_ms.as_ref().map(|v| v as &dyn yaml_edit::AsYaml),
    );
    put(
        "success_rate",
        rate.as_ref().map(|v| v as &dyn yaml_edit::AsYaml),
    );
    put(
        "samples",
        s.samples.as_ref().map(|v| v as &dyn yaml_edit::AsYaml),
    );
    put(
        "measured",
        measured.as_ref().map(|v| v as &dyn yaml_edit::AsYaml),
    );
    stats.set("source", s.source.as_str());
}

fn update_order(root: &Mapping, chain: &[String], path: &Path) -> Result<(), WriteError> {
    let Some(rotation) = root.get_mapping("rotation") else {
        return Ok(());
    };
    if !rotation.contains_key("order") {
        return Ok(());
    }
    if chain.is_empty() {
        // An empty order is invalid: without it the chain is the verified models by tier.
        rotation.remove("order");
        return Ok(());
    }
    let order = rotation
        .get_sequence("order")
        .ok_or_else(|| WriteError::Shape {
            path: path.to_path_buf(),
            what: "'rotation.order' is not a list".into(),
        })?;
    let current: Vec<String> = order
        .values()
        .map(|v| v.as_scalar().map(|s| s.as_string()).unwrap_or_default())
        .collect();
    for (i, id) in chain.iter().enumerate() {
        if i < current.len() {
            if current[i] != *id {
                order.set(i, id.as_str());
            }
        } else {
            order.push(id.as_str());
        }
    }
    for i in (chain.len()..current.len()).rev() {
        order.remove(i);
    }
    Ok(())
}

/// Replaces `path` with `new`, atomically: a temporary file in the same
/// directory is written, synced and renamed over it. Refuses when the file no
/// longer holds `old` (edited meanwhile). Keeps the file's permissions.
pub fn write_atomic(path: &Path, old: &str, new: &str) -> Result<(), WriteError> {
    write_atomic_with(path, old, new, |_| Ok(()))
}

/// [`write_atomic`] with a hook run just before the rename (tests use it to
/// fail there and check the old file survives).
#[doc(hidden)]
pub fn write_atomic_with(
    path: &Path,
    old: &str,
    new: &str,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let on_disk = std::fs::read_to_string(path).map_err(io)?;
    if on_disk != old {
        return Err(WriteError::Changed {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".registry-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(new.as_bytes()).map_err(io)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    before_rename(tmp.path()).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Best effort: make the rename itself durable.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
