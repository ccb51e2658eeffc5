//! What every export of one content epoch shares: the active nodes with their inbounds, the
//! format rules and the response settings. It is read from the database once per epoch and kept
//! in the key-value store, so an export that misses the host's response cache reads only its
//! link from the database.
//!
//! Only what clients are shown is kept: inbounds lose their private keys first
//! ([`InboundSpec::public_part`]), and an inbound the node's core cannot run, or has not said it
//! runs, is left out ([`xray::hold_back_reason`], the rule the node's config follows too).

use nexuma_sdk::cache::{self, Epoch};
use nexuma_sdk::db::Executor;
use nexuma_sdk::{kv, log, ApiError};
use serde::{Deserialize, Serialize};
use xray::{Capabilities, InboundSpec};

use crate::rules::{self, Rule};
use crate::settings::{self, Settings};

const KEY: &str = "subscriptions:catalog";
/// A catalog of an epoch nobody asks for any more goes away on its own.
const TTL_MS: u64 = 10 * 60 * 1000;

#[derive(Serialize, Deserialize)]
pub struct Catalog {
    /// Active nodes, oldest first.
    pub nodes: Vec<Node>,
    pub rules: Vec<Rule>,
    pub settings: Settings,
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
    let catalog = of_epoch(db, &epoch, kept)?;
    Ok((epoch, catalog))
}

fn of_epoch(db: &impl Executor, epoch: &Epoch, kept: Option<String>) -> Result<Catalog, ApiError> {
    let stamp = epoch.number().to_string();
    if let Some((at, json)) = kept.as_deref().and_then(|raw| raw.split_once('\n')) {
        if at == stamp {
            match serde_json::from_str(json) {
                Ok(catalog) => return Ok(catalog),
                Err(e) => log::warn("stored catalog unreadable", &[("error", &e.to_string())]),
            }
        }
    }
    // Data read now is at least as new as `epoch`, so it may be kept under it.
    let catalog = read(db)?;
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

/// The catalog as the database has it now.
pub fn read(db: &impl Executor) -> Result<Catalog, ApiError> {
    let mut nodes = Vec::new();
    for row in db
        .query(
            "SELECT id, name, address, inbounds, core_capabilities, core_version FROM nodes \
             WHERE status = 'active' ORDER BY created_at, id",
            &[],
        )?
        .iter()
    {
        let id = row.string("id")?;
        let specs: Vec<InboundSpec> = match serde_json::from_str(row.str("inbounds")?) {
            Ok(specs) => specs,
            Err(e) => {
                log::warn(
                    "node inbounds unreadable",
                    &[("nodeId", &id), ("error", &e.to_string())],
                );
                continue;
            }
        };
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
        settings: settings::load(db)?,
    })
}
