use super::*;

const TEXT: &str = include_str!("../../../registry.yaml");

fn path() -> &'static Path {
    Path::new("registry.yaml")
}

fn comments(text: &str) -> Vec<String> {
    let mut c: Vec<String> = text
        .lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].trim().to_string()))
        .collect();
    c.sort();
    c
}

fn stats(p50: u64) -> StatsUpdate {
    StatsUpdate {
        p50_ms: Some(p50),
        success_rate: Some(0.9876),
        samples: Some(42),
        measured: NaiveDate::from_ymd_opt(2026, 11, 1),
        source: "rotor report 2026-11-01 over 42 samples".into(),
    }
}

#[test]
fn an_empty_edit_is_byte_identical() {
    let out = apply(TEXT, path(), &RegistryEdit::default()).unwrap();
    assert_eq!(out, TEXT);
}

#[test]
fn scalar_edits_keep_comments_and_touch_only_their_lines() {
    let mut edit = RegistryEdit::default();
    edit.models.insert(
        "meta-llama/llama-3.3-8b-instruct:free".into(),
        ModelEdit {
            status: Some(Status::Candidate),
            tier: Some("tier2".into()),
            stats: Some(stats(901)),
        },
    );
    // A model whose stats lack p50_ms/success_rate/samples/measured.
    edit.models.insert(
        "moonshotai/kimi-k2:free".into(),
        ModelEdit {
            stats: Some(stats(3000)),
            ..ModelEdit::default()
        },
    );
    let out = apply(TEXT, path(), &edit).unwrap();
    assert_eq!(comments(&out), comments(TEXT));
    let reg = Registry::from_str(&out, path()).unwrap();
    let m = reg.model("meta-llama/llama-3.3-8b-instruct:free").unwrap();
    assert_eq!(m.status, Status::Candidate);
    assert_eq!(m.tier.as_deref(), Some("tier2"));
    let s = m.stats.as_ref().unwrap();
    assert_eq!((s.p50_ms, s.samples), (Some(901), Some(42)));
    assert_eq!(s.success_rate, Some(0.988));
    assert_eq!(s.measured, NaiveDate::from_ymd_opt(2026, 11, 1));
    let k = reg.model("moonshotai/kimi-k2:free").unwrap();
    assert_eq!(k.stats.as_ref().unwrap().p50_ms, Some(3000));
    // Canonical key order inside the new stats: p50_ms first, source last.
    let at = out.find("id: moonshotai/kimi-k2:free").unwrap();
    let block = &out[at..at + 300];
    let p = block.find("p50_ms").unwrap();
    let src = block.find("source").unwrap();
    assert!(p < src, "{block}");
    // Only the edited lines changed.
    let diff = crate::output::diff::unified(TEXT, &out, "registry.yaml");
    let changed = diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .count();
    assert!(changed <= 19, "{changed} lines changed:\n{diff}");
}

#[test]
fn stats_are_added_before_notes_when_missing() {
    let text = TEXT.replace(
        "    stats:\n      source: seed 004 (Ollama fallback model), not measured\n",
        "",
    );
    let mut edit = RegistryEdit::default();
    edit.models.insert(
        "ministral-3:3b".into(),
        ModelEdit {
            stats: Some(stats(1234)),
            ..ModelEdit::default()
        },
    );
    let out = apply(&text, path(), &edit).unwrap();
    let at = out.find("id: ministral-3:3b").unwrap();
    let block = &out[at..];
    assert!(
        block.find("stats:").unwrap() < block.find("notes:").unwrap(),
        "{block}"
    );
    let reg = Registry::from_str(&out, path()).unwrap();
    assert_eq!(reg.model("ministral-3:3b").unwrap().p50_ms(), Some(1234));
}

#[test]
fn reordering_moves_items_with_their_comments() {
    let reg = Registry::from_str(TEXT, path()).unwrap();
    let mut order: Vec<String> = reg.models.iter().map(|m| m.id.clone()).collect();
    order.reverse();
    let edit = RegistryEdit {
        file_order: Some(order.clone()),
        ..RegistryEdit::default()
    };
    let out = apply(TEXT, path(), &edit).unwrap();
    assert_eq!(comments(&out), comments(TEXT));
    let new = Registry::from_str(&out, path()).unwrap();
    let ids: Vec<String> = new.models.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, order);
    // The "Local last resort" header travels with its model, now first.
    let header = out.find("# --- Local last resort").unwrap();
    let local = out.find("- id: ministral-3:3b").unwrap();
    let first_llama = out.find("- id: meta-llama/llama-3.3-8b").unwrap();
    assert!(header < local && local < first_llama);
    // Same models, same content: reordering back gives the original text.
    let back = RegistryEdit {
        file_order: Some(reg.models.iter().map(|m| m.id.clone()).collect()),
        ..RegistryEdit::default()
    };
    assert_eq!(apply(&out, path(), &back).unwrap(), TEXT);
}

#[test]
fn rotation_order_is_rewritten_in_place() {
    let reg = Registry::from_str(TEXT, path()).unwrap();
    let mut chain: Vec<String> = reg.chain().iter().map(|m| m.id.clone()).collect();
    chain.swap(0, 1);
    chain.pop();
    let edit = RegistryEdit {
        chain: Some(chain.clone()),
        ..RegistryEdit::default()
    };
    let out = apply(TEXT, path(), &edit).unwrap();
    assert_eq!(comments(&out), comments(TEXT));
    let new = Registry::from_str(&out, path()).unwrap();
    assert_eq!(new.rotation.order.as_ref().unwrap(), &chain);
}

#[test]
fn new_models_are_appended_as_candidates() {
    let edit = RegistryEdit {
        add: vec![NewModel {
            id: "new/model-7b:free".into(),
            provider: "openrouter".into(),
            status: Status::Candidate,
            tier: "tier3".into(),
            context_length: Some(32768),
            notes: Some("added by rotor models on 2026-11-01: not measured yet".into()),
        }],
        ..RegistryEdit::default()
    };
    let out = apply(TEXT, path(), &edit).unwrap();
    assert!(out.starts_with(TEXT.trim_end()), "only appended");
    let new = Registry::from_str(&out, path()).unwrap();
    let m = new.model("new/model-7b:free").unwrap();
    assert_eq!(m.status, Status::Candidate);
    assert_eq!(m.context_length, Some(32768));
    assert!(out.contains("\n\n  - id: new/model-7b:free\n    provider: openrouter\n"));
}

#[test]
fn scalars_are_quoted_when_needed() {
    assert_eq!(blocks::scalar("a/b-1.5:free"), "a/b-1.5:free");
    assert_eq!(blocks::scalar("true"), "\"true\"");
    assert_eq!(blocks::scalar("12"), "\"12\"");
    assert_eq!(blocks::scalar("a: b"), "\"a: b\"");
    assert_eq!(blocks::scalar("#x"), "\"#x\"");
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.yaml");
    std::fs::write(&file, TEXT).unwrap();
    let err = write_atomic_with(&file, TEXT, "new text", |tmp| {
        assert!(tmp.exists(), "the temp file is written before the rename");
        Err(std::io::Error::other("disk full"))
    })
    .unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), TEXT);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "temp file removed");
    // A file edited meanwhile is not overwritten.
    let err = write_atomic(&file, "something else", "new").unwrap_err();
    assert!(matches!(err, WriteError::Changed { .. }));
    write_atomic(&file, TEXT, "new text").unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "new text");
}
