//! Ordering within tiers (insertion by significant difference), the changes
//! and the new file order of the models list.

use std::collections::{HashMap, HashSet};

use super::{Change, ChangeKind, Placement, Score, TierOrder, Verdict, ms};
use crate::registry::Registry;

/// Who a model moved ahead of, and who moved ahead of it.
#[derive(Debug, Default)]
pub(super) struct Moves {
    overtook: Vec<String>,
    overtaken_by: Vec<String>,
}

/// Whether a placement is in the chain after the report.
fn in_chain_after(p: &Placement) -> bool {
    match p.verdict {
        Verdict::Pass => true,
        Verdict::Fail | Verdict::Retired => false,
        Verdict::Uncertain | Verdict::Stale | Verdict::NoData => p.position_before.is_some(),
    }
}

/// Orders the chain's models tier by tier. Returns the tiers and the moves.
pub(super) fn order_chain(
    registry: &Registry,
    placements: &mut [Placement],
) -> (Vec<TierOrder>, HashMap<String, Moves>) {
    let file_pos: HashMap<&str, usize> = registry
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let last_tier = registry.tiers.len().saturating_sub(1);
    let tier_index = |p: &Placement| {
        p.tier_after
            .as_deref()
            .and_then(|t| registry.tiers.iter().position(|x| x.name == t))
            .unwrap_or(last_tier)
    };
    let mut moves: HashMap<String, Moves> = HashMap::new();
    let mut flags: Vec<(usize, String)> = Vec::new();
    let mut tiers = Vec::new();
    for (ti, tier) in registry.tiers.iter().enumerate() {
        let mut members: Vec<usize> = (0..placements.len())
            .filter(|&i| in_chain_after(&placements[i]) && tier_index(&placements[i]) == ti)
            .collect();
        let baseline = |i: &usize| {
            let p = &placements[*i];
            (
                p.position_before.unwrap_or(usize::MAX),
                file_pos.get(p.id.as_str()).copied().unwrap_or(usize::MAX),
                p.id.clone(),
            )
        };
        members.sort_by_key(baseline);
        let pinned: Vec<bool> = members
            .iter()
            .map(|&i| placements[i].score.is_none())
            .collect();
        // Insertion sort of the movable models with the significance comparison.
        let mut ordered: Vec<usize> = Vec::new();
        for (&i, _) in members.iter().zip(&pinned).filter(|(_, p)| !**p) {
            let Some(score) = placements[i].score else {
                continue;
            };
            let mut pos = ordered.len();
            while pos > 0 {
                let prev = ordered[pos - 1];
                match placements[prev].score {
                    Some(s) if score.significantly_better(&s) => pos -= 1,
                    _ => break,
                }
            }
            for &j in &ordered[pos..] {
                moves
                    .entry(placements[i].id.clone())
                    .or_default()
                    .overtook
                    .push(placements[j].id.clone());
                moves
                    .entry(placements[j].id.clone())
                    .or_default()
                    .overtaken_by
                    .push(placements[i].id.clone());
            }
            ordered.insert(pos, i);
        }
        // Pinned models keep their index; the others fill the remaining slots.
        let mut rest = ordered.into_iter();
        let final_order: Vec<usize> = members
            .iter()
            .zip(&pinned)
            .filter_map(|(&i, &pin)| if pin { Some(i) } else { rest.next() })
            .collect();
        for pair in final_order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if let (Some(sa), Some(sb)) = (placements[a].score, placements[b].score)
                && sb.value < sa.value
            {
                flags.push((b, overlap_flag(&placements[a].id, &sa, &sb)));
            }
        }
        tiers.push(TierOrder {
            name: tier.name.clone(),
            label: tier.label.clone(),
            max_p50_ms: tier.max_p50_ms,
            models: final_order
                .iter()
                .map(|&i| placements[i].id.clone())
                .collect(),
        });
    }
    for (i, flag) in flags {
        placements[i].flags.push(flag);
    }
    (tiers, moves)
}

fn overlap_flag(ahead: &str, sa: &Score, sb: &Score) -> String {
    format!(
        "better than {ahead} on the point estimate ({} vs {}) but not significantly \
         (expected time {}–{} vs {}–{}): order kept",
        ms(sb.value),
        ms(sa.value),
        ms(sb.lo),
        ms(sb.hi),
        ms(sa.lo),
        ms(sa.hi)
    )
}

fn score_text(s: Option<Score>) -> String {
    match s {
        Some(s) => format!(
            "expected time {} ({}–{}), p50 interval {}–{}",
            ms(s.value),
            ms(s.lo),
            ms(s.hi),
            ms(s.p50[0]),
            ms(s.p50[1])
        ),
        None => "—".into(),
    }
}

/// Every difference from the current registry, in the new chain order, then
/// the other models in file order.
pub(super) fn changes(placements: &[Placement], moves: &HashMap<String, Moves>) -> Vec<Change> {
    let score_of: HashMap<&str, Option<Score>> = placements
        .iter()
        .map(|p| (p.id.as_str(), p.score))
        .collect();
    let mut order: Vec<&Placement> = placements.iter().collect();
    order.sort_by_key(|p| p.position_after.unwrap_or(usize::MAX));
    let mut out = Vec::new();
    for p in order {
        let change = |kind, from: Option<String>, to: Option<String>, reason: String| Change {
            model: p.id.clone(),
            kind,
            from,
            to,
            reason,
        };
        if p.status_before != p.status_after {
            out.push(change(
                ChangeKind::Status,
                Some(p.status_before.to_string()),
                Some(p.status_after.to_string()),
                p.reason.clone(),
            ));
        }
        if p.tier_before != p.tier_after {
            out.push(change(
                ChangeKind::Tier,
                p.tier_before.clone(),
                p.tier_after.clone(),
                format!(
                    "p50 latency puts it in {}",
                    p.tier_after.as_deref().unwrap_or("no tier")
                ),
            ));
        }
        match (p.position_before, p.position_after) {
            (None, Some(to)) => out.push(change(
                ChangeKind::JoinedChain,
                None,
                Some(to.to_string()),
                p.reason.clone(),
            )),
            (Some(from), None) => out.push(change(
                ChangeKind::LeftChain,
                Some(from.to_string()),
                None,
                p.reason.clone(),
            )),
            (Some(from), Some(to)) if from != to => {
                let m = moves.get(&p.id);
                let reason = match m {
                    Some(m) if !m.overtook.is_empty() => format!(
                        "significantly better than {}: {} vs {}",
                        m.overtook.join(", "),
                        score_text(p.score),
                        m.overtook
                            .iter()
                            .map(|o| score_text(score_of.get(o.as_str()).copied().flatten()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(m) if !m.overtaken_by.is_empty() => format!(
                        "{} moved ahead (significantly better)",
                        m.overtaken_by.join(", ")
                    ),
                    _ if p.tier_before != p.tier_after => "moved with its tier".to_string(),
                    _ => "other models joined, left or changed tier".to_string(),
                };
                out.push(change(
                    ChangeKind::Position,
                    Some(from.to_string()),
                    Some(to.to_string()),
                    reason,
                ));
            }
            _ => {}
        }
    }
    out
}

/// The new order of the registry's models list: the slots held by models in
/// the chain before or after are filled with the new chain, then with the
/// models that left it (in their old relative order); every other model keeps
/// its slot.
pub fn file_order(registry: &Registry, chain: &[String]) -> Vec<String> {
    let chain_before: HashSet<&str> = registry.chain().iter().map(|m| m.id.as_str()).collect();
    let chain_after: HashSet<&str> = chain.iter().map(String::as_str).collect();
    let involved = |id: &str| chain_before.contains(id) || chain_after.contains(id);
    let left = registry
        .models
        .iter()
        .map(|m| m.id.as_str())
        .filter(|id| involved(id) && !chain_after.contains(id));
    let mut fill = chain
        .iter()
        .map(String::as_str)
        .filter(|id| registry.model(id).is_some())
        .chain(left);
    registry
        .models
        .iter()
        .map(|m| {
            let slot = if involved(&m.id) { fill.next() } else { None };
            slot.unwrap_or(&m.id).to_string()
        })
        .collect()
}
