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
pub(crate) mod decide;
mod factory;
pub(crate) mod follow;
mod schema;
mod set;
pub(crate) mod store;
mod version;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use thiserror::Error;

use crate::app::Core;
use crate::runtime::LoadError;

pub use set::sync;

/// Why a change to the components (a load, an upload, an activation) did not happen.
#[derive(Debug, Error)]
pub enum Error {
    /// A version failed to load: it does not compile, link or declare valid routes.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A query on the components' tables failed.
    #[error("the components' tables could not be read or written: {0}")]
    Database(#[from] sqlx::Error),
    /// The active set names a version whose bytes are not in the database.
    #[error("component {name}: version {hash} is not stored")]
    Missing {
        /// The component the active row names.
        name: String,
        /// The hash no `component_versions` row holds.
        hash: String,
    },
    /// A folder file has the bytes of a version stored under another name.
    #[error("{file} holds the same bytes as the stored component {stored:?}; one version belongs to one name")]
    SameBytes {
        /// The folder's file.
        file: String,
        /// The name the bytes are stored under.
        stored: String,
    },
    /// A schema step of the version being activated failed; the activation is rolled back.
    #[error("component {component}: migration {version} ({step}) failed on {backend}: {reason}")]
    Migration {
        /// The component whose step failed.
        component: String,
        /// The step's number.
        version: i64,
        /// The step's name.
        step: String,
        /// `postgres` or `sqlite`: the SQL that ran.
        backend: &'static str,
        /// The database's error.
        reason: String,
    },
    /// A step already applied comes back with other SQL (its checksum differs).
    #[error("component {component}: migration {version} ({step}) is not the SQL that version {applied_by} ran; a released migration never changes, add the next one instead")]
    MigrationChanged {
        /// The component whose step changed.
        component: String,
        /// The step's number.
        version: i64,
        /// The step's name.
        step: String,
        /// The hash of the version that ran the step first.
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
    /// Nothing loaded yet (revision -1); `port` and the host name say which replica this is.
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
