//! Components live in the database: every version stored once by content hash, one active
//! version per name, and a revision of the active set that each Core replica follows.
//!
//! - `store`: the tables and the audit rows;
//! - `factory`: the folder's `.wasm` files registered as factory versions at start and SIGHUP;
//! - `set`: the active set loaded and swapped in (compiled forms reused by hash);
//! - `schema`: the schema steps a version brings, run in the transaction that activates it;
//! - `announce`: a committed change's revision published to every replica;
//! - `follow`: the tasks that notice another replica's change (its announcement, or the
//!   database's revision on a timer);
//! - `canary`: a share of a name's requests on another version, ended by an operator or by
//!   itself; `decide`: each replica's judge of running canaries (counts shared in the
//!   key-value store);
//! - `api`: `/admin/components` for operators.

mod announce;
pub mod api;
mod canary;
pub mod decide;
mod factory;
pub mod follow;
mod schema;
mod set;
pub mod store;
mod version;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use thiserror::Error;

use crate::app::Core;
use crate::runtime::LoadError;

pub use set::sync;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the components' tables could not be read or written: {0}")]
    Database(#[from] sqlx::Error),
    #[error("component {name}: version {hash} is not stored")]
    Missing { name: String, hash: String },
    #[error("{file} holds the same bytes as the stored component {stored:?}; one version belongs to one name")]
    SameBytes { file: String, stored: String },
    #[error("component {component}: migration {version} ({step}) failed on {backend}: {reason}")]
    Migration {
        component: String,
        version: i64,
        step: String,
        backend: &'static str,
        reason: String,
    },
    #[error("component {component}: migration {version} ({step}) is not the SQL that version {applied_by} ran; a released migration never changes, add the next one instead")]
    MigrationChanged {
        component: String,
        version: i64,
        step: String,
        applied_by: String,
    },
}

impl Error {
    /// A step of the component's own schema was refused: the operator's to fix, not the Core's.
    pub fn is_migration(&self) -> bool {
        matches!(
            self,
            Error::Migration { .. } | Error::MigrationChanged { .. }
        )
    }
}

/// This replica's side of the components: which revision it serves and what its folder holds.
pub struct Components {
    revision: AtomicI64,
    /// The folder's factory versions as last registered: name → hash.
    factory: Mutex<HashMap<String, String>>,
    /// One load of the active set at a time, so an older set never replaces a newer one.
    sync: tokio::sync::Mutex<()>,
    /// Who "this replica" is in the stats the list shows.
    pub replica: String,
}

impl Components {
    pub fn new(port: u16) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Components {
            revision: AtomicI64::new(-1),
            factory: Mutex::new(HashMap::new()),
            sync: tokio::sync::Mutex::new(()),
            replica: format!("{host}:{port} (pid {})", std::process::id()),
        }
    }

    /// The revision of the active set this replica serves (-1 before the first load).
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    /// The folder's version of `name`, if it has one.
    pub fn factory_hash(&self, name: &str) -> Option<String> {
        self.factory_map().get(name).cloned()
    }

    fn factory_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.factory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// At start and on SIGHUP: registers the folder's versions, then loads the active set.
/// The number of components now served.
pub async fn load(core: &Core) -> Result<usize, Error> {
    let folder = factory::register(core).await?;
    sync(core, &folder).await
}
