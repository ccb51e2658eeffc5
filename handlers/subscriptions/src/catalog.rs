//! What every export of one content epoch shares: the active nodes with their inbounds, the
//! format rules and the response settings. It is read from the database once per epoch and kept
//! in the key-value store, so an export that misses the host's response cache reads only its
//! link from the database.
//!
//! Only what clients are shown is kept: inbounds lose their private keys first
//! ([`InboundSpec::public_part`]), and an inbound the node's core cannot run, or has not said it
//! runs, is left out ([`xray::hold_back_reason`], the rule the node's config follows too).
//!
//! Only what clients can reach is listed: the inbounds of the revision the node's agent
//! confirmed applying (`nodes.applied_inbounds`), on nodes that are active and whose config was
//! not rejected, and whose agent spoke within the last minute plus the operator's grace
//! ([`Settings::silent_node_grace_seconds`]). Confirmations, rejections and an agent speaking
//! again move the content epoch; silence does not, so a catalog (and every answer built from
//! it) lives no longer than until its first listed node would fall silent past its grace.

use nexuma_sdk::cache::{self, Epoch};
use nexuma_sdk::db::Executor;
use nexuma_sdk::{clock, kv, log, ApiError};
use serde::{Deserialize, Serialize};
use xray::{Capabilities, InboundSpec, HEARTBEAT_STALE_MS};

use crate::rules::{self, Rule};
use crate::settings::{self, Settings};

// `v2`: catalogs with an expiry; one stored before cannot be mistaken for one.
const KEY: &str = "subscriptions:catalog:v2";
/// A catalog of an epoch nobody asks for any more goes away on its own.
const TTL_MS: u64 = 10 * 60 * 1000;

#[derive(Serialize, Deserialize)]
pub struct Catalog {
    /// Active nodes, oldest first.
    pub nodes: Vec<Node>,
    pub rules: Vec<Rule>,
    pub settings: Settings,
    /// When a listed node's agent will have been silent past its grace (ms since the epoch):
    /// the catalog is read again from then on. `None`: no node listed.
    pub fresh_until: Option<i64>,
}

impl Catalog {
    fn fresh(&self, now: i64) -> bool {
        self.fresh_until.is_none_or(|until| now < until)
    }

    /// How long an answer built from this catalog may be kept: at most `max_ms`, and never past
    /// the moment a listed node leaves.
    pub fn answer_ttl_ms(&self, now: i64, max_ms: u64) -> u64 {
        match self.fresh_until {
            Some(until) => u64::try_from(until - now).unwrap_or(1).clamp(1, max_ms),
            None => max_ms,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub address: String,
    pub inbounds: Vec<InboundSpec>,
}

/// The current epoch (to read before anything else an answer shows) and its catalog: from the
/// key-value store when it holds that epoch's (both read in one round trip), else from the
/// database, then stored for the next export.
pub fn load(db: &impl Executor) -> Result<(Epoch, Catalog), ApiError> {
    let (epoch, kept) = cache::current_with(KEY)?;
    let catalog = of_epoch(db, &epoch, kept, clock::now_ms())?;
    Ok((epoch, catalog))
}

fn of_epoch(
    db: &impl Executor,
    epoch: &Epoch,
    kept: Option<String>,
    now: i64,
) -> Result<Catalog, ApiError> {
    let stamp = epoch.number().to_string();
    if let Some((at, json)) = kept.as_deref().and_then(|raw| raw.split_once('\n')) {
        if at == stamp {
            match serde_json::from_str::<Catalog>(json) {
                Ok(catalog) if catalog.fresh(now) => return Ok(catalog),
                Ok(_) => {}
                Err(e) => log::warn("stored catalog unreadable", &[("error", &e.to_string())]),
            }
        }
    }
    // Data read now is at least as new as `epoch`, so it may be kept under it.
    let catalog = read(db, now)?;
    match serde_json::to_string(&catalog) {
        Ok(json) => {
            if let Err(e) = kv::set(KEY, &format!("{stamp}\n{json}"), Some(TTL_MS)) {
                log::warn("catalog not stored", &[("error", &e.message)]);
            }
        }
        Err(e) => log::warn("catalog not serialized", &[("error", &e.to_string())]),
    }
    Ok(catalog)
}

/// Until when a node is listed (ms), or `None` when it is not: its agent never spoke, fell
/// silent past `grace_ms`, or had its config rejected. The nodes component's effective status
/// (model.rs `effective_status`) with the grace added.
fn listed_until(
    last_heartbeat: Option<i64>,
    rejected: bool,
    now: i64,
    grace_ms: i64,
) -> Option<i64> {
    if rejected {
        return None;
    }
    let until = last_heartbeat? + HEARTBEAT_STALE_MS + grace_ms;
    (now < until).then_some(until)
}

/// The catalog as the database has it at `now`.
pub fn read(db: &impl Executor, now: i64) -> Result<Catalog, ApiError> {
    let settings = settings::load(db)?;
    let grace_ms = i64::from(settings.silent_node_grace_seconds) * 1000;
    let mut nodes = Vec::new();
    let mut fresh_until: Option<i64> = None;
    for row in db
        .query(
            "SELECT id, name, address, applied_inbounds, core_capabilities, core_version, \
             last_heartbeat_at, sync_error, applied_revision, revision FROM nodes \
             WHERE status = 'active' AND applied_inbounds IS NOT NULL ORDER BY created_at, id",
            &[],
        )?
        .iter()
    {
        // A rejected config leaves the node in error until the agent applies the current one.
        let rejected = row.opt_str("sync_error")?.is_some()
            && row.opt_i64("applied_revision")? != Some(row.i64("revision")?);
        let Some(until) = listed_until(row.opt_i64("last_heartbeat_at")?, rejected, now, grace_ms)
        else {
            continue;
        };
        let id = row.string("id")?;
        let specs: Vec<InboundSpec> = match serde_json::from_str(row.str("applied_inbounds")?) {
            Ok(specs) => specs,
            Err(e) => {
                log::warn(
                    "node inbounds unreadable",
                    &[("nodeId", &id), ("error", &e.to_string())],
                );
                continue;
            }
        };
        fresh_until = Some(fresh_until.map_or(until, |t| t.min(until)));
        // Confirmed lists are of live inbounds already; this keeps lists stored before
        // revisions kept their specs (migration 0010) to the same rule.
        let caps: Option<Capabilities> = row
            .opt_str("core_capabilities")?
            .and_then(|raw| serde_json::from_str(raw).ok());
        let core = row.opt_str("core_version")?;
        let inbounds = specs
            .iter()
            .filter(|spec| xray::hold_back_reason(spec, caps.as_ref(), core).is_none())
            .map(InboundSpec::public_part)
            .collect();
        nodes.push(Node {
            id,
            name: row.string("name")?,
            address: row.string("address")?,
            inbounds,
        });
    }
    Ok(Catalog {
        nodes,
        rules: rules::load(db)?,
        settings,
        fresh_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    #[test]
    fn a_node_whose_agent_never_spoke_is_not_listed() {
        assert_eq!(listed_until(None, false, NOW, 300_000), None);
    }

    #[test]
    fn a_silent_node_stays_listed_for_the_grace_then_leaves() {
        let last = NOW - HEARTBEAT_STALE_MS - 299_000;
        assert_eq!(
            listed_until(Some(last), false, NOW, 300_000),
            Some(NOW + 1_000)
        );
        assert_eq!(listed_until(Some(last), false, NOW, 0), None);
    }

    #[test]
    fn a_rejected_config_unlists_even_a_speaking_node() {
        assert_eq!(listed_until(Some(NOW), true, NOW, 300_000), None);
    }

    #[test]
    fn answers_never_outlive_the_catalog() {
        let catalog = |fresh_until| Catalog {
            nodes: Vec::new(),
            rules: Vec::new(),
            settings: Settings::default(),
            fresh_until,
        };
        assert_eq!(
            catalog(Some(NOW + 5_000)).answer_ttl_ms(NOW, 600_000),
            5_000
        );
        assert_eq!(catalog(Some(NOW - 5)).answer_ttl_ms(NOW, 600_000), 1);
        assert_eq!(catalog(None).answer_ttl_ms(NOW, 600_000), 600_000);
    }
}
