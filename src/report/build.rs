//! A whole report: read the files, aggregate, rank; and the rows every
//! exporter shows, in one order.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use super::aggregate::{Aggregator, ModelStats, Price, Summary};
use super::read::{ReadError, ReadStats, Simulated, read_files};
use crate::rank::{Placement, RankConfig, Ranking, rank};
use crate::registry::{ProviderKind, Registry, Tier};

/// How the report was made (shown in every format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Decay half-life in days (0: none).
    pub half_life_days: f64,
    pub min_samples: u64,
    pub min_success: f64,
    /// The gate on answers with code: the upper bound of the well-formed
    /// rate's 95% interval must reach this (`--min-well-formed`).
    pub min_well_formed: f64,
    /// Records before this time were left out (`--since`), RFC 3339.
    pub since: Option<String>,
}

/// Everything an exporter needs.
#[derive(Debug, Clone)]
pub struct Report {
    pub registry_source: String,
    pub tiers: Vec<Tier>,
    pub read: ReadStats,
    pub settings: Settings,
    pub summary: Summary,
    pub ranking: Ranking,
}

/// One model as the exporters list it.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub id: &'a str,
    pub stats: Option<&'a ModelStats>,
    /// `None` for models the registry does not list.
    pub placement: Option<&'a Placement>,
}

impl Report {
    /// Reads `paths` and ranks `registry` on them. Records the embedded
    /// simulator answered are left out when real ones were read too, unless
    /// `simulated` is [`Simulated::Include`]; when there are only simulated
    /// ones, they are used (and [`ReadStats::simulated`] says so).
    pub fn build(
        paths: &[PathBuf],
        since_ms: Option<i64>,
        simulated: Simulated,
        settings: Settings,
        registry: &Registry,
        prices: &PriceList,
    ) -> Result<Report, ReadError> {
        let mut agg = Aggregator::new();
        let mut read = read_files(paths, since_ms, simulated, &mut agg)?;
        if read.attempts == 0 && read.simulated_left_out > 0 {
            agg = Aggregator::new();
            read = read_files(paths, since_ms, Simulated::Include, &mut agg)?;
        }
        let price = |id: &str, provider: &str| prices.price(registry, id, provider);
        let summary = agg.finish(settings.half_life_days * 86_400.0, &price);
        Ok(Report::from_summary(registry, read, settings, summary))
    }

    /// Ranks `registry` on an existing summary.
    pub fn from_summary(
        registry: &Registry,
        read: ReadStats,
        settings: Settings,
        summary: Summary,
    ) -> Report {
        let cfg = RankConfig {
            min_samples: settings.min_samples,
            min_success: settings.min_success,
            min_well_formed: settings.min_well_formed,
        };
        let ranking = rank(registry, &summary, &cfg);
        Report {
            registry_source: registry.source.display().to_string(),
            tiers: registry.tiers.clone(),
            read,
            settings,
            summary,
            ranking,
        }
    }

    /// The models in display order: the new chain, then the registry's other
    /// models in file order, then models the registry does not list, by id.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut rows: Vec<Row<'_>> = Vec::new();
        let placement = |id: &str| self.ranking.placement(id);
        for id in &self.ranking.chain {
            rows.push(Row {
                id,
                stats: self.summary.model(id),
                placement: placement(id),
            });
        }
        for p in &self.ranking.placements {
            if p.position_after.is_none() {
                rows.push(Row {
                    id: &p.id,
                    stats: self.summary.model(&p.id),
                    placement: Some(p),
                });
            }
        }
        for m in &self.summary.models {
            if placement(&m.id).is_none() {
                rows.push(Row {
                    id: &m.id,
                    stats: Some(m),
                    placement: None,
                });
            }
        }
        rows
    }

    /// The newest record's date (what `--write` stamps as `measured`).
    pub fn measured_date(&self) -> Option<chrono::NaiveDate> {
        self.summary
            .newest_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.date_naive())
    }
}

/// Prices per token by model id, from a `GET /models` body (or `rotor models
/// --json`): `{"data"|"models": [{"id", "pricing": {"prompt", "completion"}}]}`,
/// prices as strings or numbers, USD per token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceList(HashMap<String, Price>);

impl PriceList {
    /// Parses a price list; entries without both prices are skipped.
    pub fn from_json(text: &str) -> Result<PriceList, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let list = v
            .get("data")
            .or_else(|| v.get("models"))
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        let num = |x: Option<&serde_json::Value>| match x {
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            _ => None,
        };
        let mut map = HashMap::new();
        for m in list {
            let Some(id) = m.get("id").and_then(|i| i.as_str()) else {
                continue;
            };
            let pricing = m.get("pricing");
            let prompt = num(pricing.and_then(|p| p.get("prompt")));
            let completion = num(pricing.and_then(|p| p.get("completion")));
            if let (Some(p), Some(c)) = (prompt, completion)
                && p >= 0.0
                && c >= 0.0
            {
                map.insert(id.to_string(), (p, c));
            }
        }
        Ok(PriceList(map))
    }

    /// Zero for free models (`:free`, local servers), the listed price, or unknown.
    pub fn price(&self, registry: &Registry, id: &str, provider: &str) -> Option<Price> {
        if id.ends_with(":free") {
            return Some((0.0, 0.0));
        }
        let provider = registry
            .model(id)
            .map(|m| m.provider.as_str())
            .unwrap_or(provider);
        let local = registry
            .provider(provider)
            .is_some_and(|p| matches!(p.kind, ProviderKind::Ollama | ProviderKind::LlamaCpp));
        if local {
            return Some((0.0, 0.0));
        }
        self.0.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_list_reads_models_bodies() {
        let p = PriceList::from_json(
            r#"{"data":[{"id":"a","pricing":{"prompt":"0.000001","completion":"0.000002"}},
                        {"id":"b","pricing":{"prompt":0,"completion":0}},
                        {"id":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        let reg = Registry::embedded().unwrap();
        assert_eq!(p.price(&reg, "a", "openrouter"), Some((0.000001, 0.000002)));
        assert_eq!(p.price(&reg, "x:free", "openrouter"), Some((0.0, 0.0)));
        assert_eq!(p.price(&reg, "ministral-3:3b", "local"), Some((0.0, 0.0)));
        assert_eq!(p.price(&reg, "c", "openrouter"), None);
    }
}
