//! One instance's side of the Nexuma interfaces, and the slice of it each interface sees.
//!
//! The shape is wasmtime-wasi-http's: the store's data hands out a [`HostCtxView`] (its
//! [`HostCtx`] and the resource table it shares with WASI) through [`HostView`], and each
//! interface is linked with a `HasData` view that borrows only what that interface needs. The
//! runtime builds a `HostCtx` per instance and never looks inside the capabilities.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasData, Linker, ResourceTable};

use super::api::{Api, ApiCtx, ApiView, Source};
use super::clock::Clock;
use super::db::{Database, DbCtx, DbView};
use super::http::{Http, HttpCtx, HttpView};
use super::kv::{KvCtx, KvView, Store};
use super::log::{LogCtx, LogView};
use super::passwords::Passwords;
use super::response_cache::{ResponseCacheCtx, ResponseCacheView};
use super::settings::{Settings, SettingsCtx, SettingsView};
use super::telegram::{Telegram, TelegramCtx, TelegramView};
use super::tokens::{Tokens, TokensCtx, TokensView};
use crate::bindings::nexuma::core as wit;
use crate::bindings::nexuma::core::response_cache::Policy;

/// The host's capabilities, shared by every instance: one backend per interface that has one.
pub struct Capabilities {
    /// The Core's database pool, behind `db`.
    pub db: Database,
    /// The key-value store, with the prefix of every key.
    pub kv: Store,
    /// The token signer, behind `tokens` (and the host's own auth check).
    pub tokens: Tokens,
    /// The Bot API client, behind `telegram`.
    pub telegram: Telegram,
    /// The outbound HTTP client, behind `http`.
    pub http: Http,
    /// The operators' settings, behind `settings`.
    pub settings: Settings,
    /// The server, for in-process calls of the Core's own routes, behind `api`.
    pub api: Api,
}

/// The call an instance serves: whose it is and until when, for log lines and outbound
/// deadlines.
pub struct Call {
    /// The component serving the call, as its log lines name it.
    pub component: Arc<str>,
    /// The request's `x-request-id` (the client's or one the host made), for its log lines.
    pub request_id: Arc<str>,
    /// When the call must be done; outbound and in-process calls are bounded by it.
    pub deadline: Instant,
    /// The client the call acts for and how deeply nested it is, for the calls it makes.
    pub source: Source,
}

/// What one instance's imports hold: the shared capabilities, its call, and what the guest
/// asked the host to keep its answer under (`response-cache.keep`).
pub struct HostCtx {
    capabilities: Arc<Capabilities>,
    call: Call,
    keep: Option<Policy>,
}

impl HostCtx {
    /// A fresh context for one call: nothing kept yet.
    pub fn new(capabilities: Arc<Capabilities>, call: Call) -> Self {
        HostCtx {
            capabilities,
            call,
            keep: None,
        }
    }

    /// The policy the guest asked the host to keep its answer under, if it asked.
    pub fn into_keep(self) -> Option<Policy> {
        self.keep
    }
}

/// An instance's [`HostCtx`] with the resource table its imports share with WASI.
pub struct HostCtxView<'a> {
    /// The instance's own context.
    pub ctx: &'a mut HostCtx,
    /// The resource table its imports share with WASI (open transactions, for one).
    pub table: &'a mut ResourceTable,
}

/// A store's data that carries a [`HostCtx`].
pub trait HostView: Send {
    /// Borrows the [`HostCtx`] and the resource table together, for one host call.
    fn host(&mut self) -> HostCtxView<'_>;
}

/// Each interface's slice of the view.
impl<'a> HostCtxView<'a> {
    /// The shared capabilities, for as long as the view lives.
    fn capabilities(self) -> &'a Capabilities {
        let ctx: &'a HostCtx = self.ctx;
        &ctx.capabilities
    }

    fn db(self) -> DbCtx<'a> {
        let HostCtxView { ctx, table } = self;
        let ctx: &'a HostCtx = ctx;
        DbCtx {
            db: &ctx.capabilities.db,
            table,
        }
    }

    fn kv(self) -> KvCtx<'a> {
        KvCtx {
            store: &self.capabilities().kv,
        }
    }

    fn tokens(self) -> TokensCtx<'a> {
        TokensCtx {
            tokens: &self.capabilities().tokens,
        }
    }

    fn telegram(self) -> TelegramCtx<'a> {
        TelegramCtx {
            telegram: &self.capabilities().telegram,
        }
    }

    fn settings(self) -> SettingsCtx<'a> {
        SettingsCtx {
            settings: &self.capabilities().settings,
        }
    }

    fn http(self) -> HttpCtx<'a> {
        let ctx: &'a HostCtx = self.ctx;
        HttpCtx {
            http: &ctx.capabilities.http,
            call: &ctx.call,
        }
    }

    fn api(self) -> ApiCtx<'a> {
        let ctx: &'a HostCtx = self.ctx;
        ApiCtx {
            api: &ctx.capabilities.api,
            call: &ctx.call,
        }
    }

    fn log(self) -> LogCtx<'a> {
        let ctx: &'a HostCtx = self.ctx;
        LogCtx { call: &ctx.call }
    }

    fn response_cache(self) -> ResponseCacheCtx<'a> {
        let ctx = self.ctx;
        ResponseCacheCtx {
            keep: &mut ctx.keep,
        }
    }
}

/// `types` holds only types: nothing of the store, no functions.
struct Types;

impl HasData for Types {
    type Data<'a> = Types;
}

impl wit::types::Host for Types {}

/// Links every `nexuma:core` interface, each to its own slice of `T`. The frozen contracts'
/// imports (`@0.1.0` to `@0.1.2`) resolve to these definitions (see `crate::bindings`).
pub fn add_to_linker<T: HostView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<T, Types>(linker, |_| Types)?;
    wit::db::add_to_linker::<T, DbView>(linker, |t| t.host().db())?;
    wit::kv::add_to_linker::<T, KvView>(linker, |t| t.host().kv())?;
    wit::tokens::add_to_linker::<T, TokensView>(linker, |t| t.host().tokens())?;
    wit::passwords::add_to_linker::<T, Passwords>(linker, |_| Passwords)?;
    wit::telegram::add_to_linker::<T, TelegramView>(linker, |t| t.host().telegram())?;
    wit::settings::add_to_linker::<T, SettingsView>(linker, |t| t.host().settings())?;
    wit::clock::add_to_linker::<T, Clock>(linker, |_| Clock)?;
    wit::log::add_to_linker::<T, LogView>(linker, |t| t.host().log())?;
    wit::http::add_to_linker::<T, HttpView>(linker, |t| t.host().http())?;
    wit::response_cache::add_to_linker::<T, ResponseCacheView>(linker, |t| {
        t.host().response_cache()
    })?;
    wit::api::add_to_linker::<T, ApiView>(linker, |t| t.host().api())?;
    Ok(())
}
