//! `nexuma:core/kv`: a shared key-value store — Redis, or an in-process map when embedded.
//!
//! Every key is prefixed (`KV_PREFIX`, default `nexuma:`) so a Redis shared with other
//! programs stays tidy; components never see the prefix.
//!
//! The store also carries the host's own announcements between replicas (`publish`,
//! `subscribe`): Redis pub/sub, or a broadcast channel in the in-process store. Host-internal,
//! not part of the WIT interface; delivery is best effort, so whoever listens must have another
//! way to catch up (it is told with `Received::Missed` when it may have missed something).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::AsyncCommands;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc};
use wasmtime::component::HasData;

use crate::bindings::nexuma::core::kv::{self as wit, KvError};
use crate::config::{KvSettings, KvTarget};

/// Why a key-value operation failed (the in-process store never fails).
#[derive(Debug, Error)]
pub enum StoreError {
    /// Redis refused the command or the connection broke.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within the bound it holds; the call is abandoned.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// The key-value store behind `kv`, and the prefix it keeps components' keys under.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    prefix: Arc<str>,
}

#[derive(Clone)]
enum Backend {
    Redis(RedisStore),
    Memory(MemoryStore),
}

/// Commands go through the shared connection manager; each subscription opens a connection of
/// its own from the client, since a subscribed connection can run nothing else.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    client: redis::Client,
}

impl RedisStore {
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend())
    }
}

/// Longest wait for one Redis command or connection attempt: a request must never hang on a
/// dead or restarting Redis, it gets a 503 and the next one tries a fresh connection.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Most keys one `get-many` reads.
const MAX_GET_MANY: usize = 64;
/// Most entries one `set-many` writes.
const MAX_SET_MANY: usize = 10_000;
/// Messages the in-process bus keeps for a subscriber that has not read them yet; one that
/// falls further behind hears `Received::Missed` instead of the oldest.
const BUS_CAPACITY: usize = 64;
/// Messages a Redis subscription holds for its reader before it waits for it.
const SUBSCRIPTION_BUFFER: usize = 64;
/// The pause before the first attempt to subscribe again after a Redis subscription broke;
/// it doubles with each failed attempt up to `MAX_RESUBSCRIBE_PAUSE`, so a Redis that is down
/// for long is not hammered, and one that restarts is heard from again within a second.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(250);
const MAX_RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(8);
/// How often a quiet subscription is pinged: a Redis host lost without closing the connection
/// (power, a partition) would otherwise leave it silent for ever.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(15);

impl Backend {
    async fn connect(target: &KvTarget) -> Result<Self, StoreError> {
        match target {
            KvTarget::Memory => Ok(Backend::Memory(MemoryStore::default())),
            KvTarget::Redis(url) => {
                let client = redis::Client::open(url.as_str())?;
                // One connection attempt per reconnect, no backoff: every waiting request
                // shares the manager's reconnect future, and with retries and backoff a
                // 5-second Redis restart held them for about 110 s. Without, a failed attempt
                // fails those requests at once (503) and the next request starts a new one.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT)
                    .set_number_of_retries(0);
                let conn =
                    bounded(ConnectionManager::new_with_config(client.clone(), config)).await?;
                Ok(Backend::Redis(RedisStore { conn, client }))
            }
        }
    }
}

impl Store {
    /// Connects to the configured store; every key a component names is put under
    /// `settings.prefix`.
    pub async fn connect(settings: &KvSettings) -> Result<Self, StoreError> {
        let backend = Backend::connect(&settings.target).await?;
        Ok(Store {
            backend,
            prefix: settings.prefix.as_str().into(),
        })
    }

    /// The prefix of every key (`KV_PREFIX`); the host's own keys carry it too.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A component's `key` as it is stored: under the prefix.
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `redis` or `memory`: what the health check and start-up log show.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Redis(_) => "redis",
            Backend::Memory(_) => "memory",
        }
    }

    /// One round trip (Redis `PING`); what the readiness check asks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let mut conn = store.conn();
                let _: String = bounded(redis::cmd("PING").query_async(&mut conn)).await?;
                Ok(())
            }
            Backend::Memory(_) => Ok(()),
        }
    }

    /// The value under `key` (as stored, prefix included), if any and not expired.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Redis(store) => bounded(store.conn().get(key)).await,
            Backend::Memory(m) => Ok(m.get(key)),
        }
    }

    /// The values of `keys`, in order, in one round trip.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        match &self.backend {
            Backend::Redis(store) if !keys.is_empty() => {
                let mut conn = store.conn();
                bounded(redis::cmd("MGET").arg(keys).query_async(&mut conn)).await
            }
            Backend::Redis(_) => Ok(Vec::new()),
            Backend::Memory(m) => Ok(keys.iter().map(|k| m.get(k)).collect()),
        }
    }

    /// Stores `value` under `key` (as stored, prefix included), expiring after `ttl` if one is
    /// given.
    pub async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let mut conn = store.conn();
                match ttl {
                    Some(ttl) => bounded(conn.pset_ex::<_, _, ()>(key, value, millis(ttl))).await,
                    None => bounded(conn.set::<_, _, ()>(key, value)).await,
                }
            }
            Backend::Memory(m) => {
                m.set(key, value.to_string(), ttl);
                Ok(())
            }
        }
    }

    /// Sets every `(key, value)` of `entries` with the same expiry, in one round trip.
    pub async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redis(_) if entries.is_empty() => Ok(()),
            Backend::Redis(store) => {
                let mut pipe = redis::pipe();
                for (key, value) in entries {
                    match ttl {
                        Some(ttl) => pipe.pset_ex(key, value, millis(ttl)).ignore(),
                        None => pipe.set(key, value).ignore(),
                    };
                }
                bounded(pipe.query_async::<()>(&mut store.conn())).await
            }
            Backend::Memory(m) => {
                for (key, value) in entries {
                    m.set(key, value.clone(), ttl);
                }
                Ok(())
            }
        }
    }

    /// Sets the key only when it is missing; true when this call set it. The host's lock for
    /// running each job tick on one replica only.
    pub async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let mut conn = store.conn();
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(value).arg("PX").arg(millis(ttl)).arg("NX");
                let set: Option<String> = bounded(cmd.query_async(&mut conn)).await?;
                Ok(set.is_some())
            }
            Backend::Memory(m) => Ok(m.set_nx(key, value, ttl)),
        }
    }

    /// Removes `key`; true when it was there.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Redis(store) => Ok(bounded(store.conn().del::<_, u64>(key)).await? > 0),
            Backend::Memory(m) => Ok(m.delete(key)),
        }
    }

    /// Adds `by` to the integer under `key` (0 if missing) and returns the sum; `ttl` only applies
    /// when this creates the key.
    pub async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let mut conn = store.conn();
                let mut pipe = redis::pipe();
                pipe.atomic();
                if let Some(ttl) = ttl {
                    // Creates the key with its expiry only when it is missing; INCRBY keeps the TTL.
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(0)
                        .arg("PX")
                        .arg(millis(ttl))
                        .arg("NX")
                        .ignore();
                }
                pipe.cmd("INCRBY").arg(key).arg(by);
                let (value,): (i64,) = bounded(pipe.query_async(&mut conn)).await?;
                Ok(value)
            }
            Backend::Memory(m) => Ok(m.incr(key, by, ttl)),
        }
    }

    /// How long `key` has left; `None` when it is missing or never expires.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let mut conn = store.conn();
                let ms: i64 = bounded(redis::cmd("PTTL").arg(key).query_async(&mut conn)).await?;
                Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
            }
            Backend::Memory(m) => Ok(m.ttl(key)),
        }
    }
}

impl Store {
    /// Sends `message` to every current subscriber of `channel` (the caller's full name, prefix
    /// included). Nobody listening is no error; a message is not kept for later subscribers.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redis(store) => {
                let _receivers: i64 = bounded(store.conn().publish(channel, message)).await?;
                Ok(())
            }
            Backend::Memory(m) => {
                m.publish(channel, message);
                Ok(())
            }
        }
    }

    /// Listens to `channel` from now on. On Redis a task of its own holds a dedicated
    /// connection and subscribes again after a disconnect (with a growing pause, logged); the
    /// reader hears `Received::Missed` whenever messages may have passed it by.
    pub fn subscribe(&self, channel: &str) -> Subscription {
        match &self.backend {
            Backend::Redis(store) => {
                let (out, messages) = mpsc::channel(SUBSCRIPTION_BUFFER);
                let task = tokio::spawn(listen(store.client.clone(), channel.to_string(), out));
                Subscription(Listening::Redis { messages, task })
            }
            Backend::Memory(m) => Subscription(Listening::Memory {
                bus: m.bus.subscribe(),
                channel: channel.to_string(),
            }),
        }
    }
}

/// What a subscription hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A message published on the channel.
    Message(String),
    /// Messages may have been missed: the subscription was (re)established after a gap, or
    /// the reader fell behind. The reader should look at the state the messages announce.
    Missed,
}

/// A channel listened to; dropping it ends the listening.
pub struct Subscription(Listening);

enum Listening {
    /// Fed by the task that holds the subscribed connection.
    Redis {
        messages: mpsc::Receiver<Received>,
        task: tokio::task::JoinHandle<()>,
    },
    Memory {
        bus: broadcast::Receiver<(String, String)>,
        channel: String,
    },
}

impl Subscription {
    /// The next message, or `None` once the store is gone.
    pub async fn next(&mut self) -> Option<Received> {
        match &mut self.0 {
            Listening::Redis { messages, .. } => messages.recv().await,
            Listening::Memory { bus, channel } => loop {
                match bus.recv().await {
                    Ok((on, message)) if on == *channel => return Some(Received::Message(message)),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some(Received::Missed),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Listening::Redis { task, .. } = &self.0 {
            task.abort();
        }
    }
}

/// Why a Redis subscription stopped relaying.
enum Ended {
    /// Nobody reads the subscription any more.
    Dropped,
    /// The connection broke or stopped answering.
    Lost(String),
}

/// The task behind a Redis subscription: subscribe, relay until the connection breaks, pause,
/// subscribe again — until the reader drops the subscription.
async fn listen(client: redis::Client, channel: String, out: mpsc::Sender<Received>) {
    let mut failures: u32 = 0;
    let mut first = true;
    loop {
        match bounded(subscribed(&client, &channel)).await {
            Ok(pubsub) => {
                if first {
                    tracing::info!(channel = %channel, "subscribed to the redis channel");
                } else {
                    tracing::info!(channel = %channel, failures, "subscribed to the redis channel again");
                }
                first = false;
                failures = 0;
                // Whatever was published before this subscription took hold was not heard.
                if out.send(Received::Missed).await.is_err() {
                    return;
                }
                match relay(pubsub, &out).await {
                    Ended::Dropped => return,
                    Ended::Lost(reason) => {
                        tracing::warn!(channel = %channel, reason = %reason,
                            retry_in_ms = resubscribe_pause(0).as_millis() as u64,
                            "redis subscription lost; subscribing again");
                    }
                }
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(channel = %channel, error = %e, failures,
                    retry_in_ms = resubscribe_pause(failures).as_millis() as u64,
                    "cannot subscribe to the redis channel; trying again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(resubscribe_pause(failures)) => {}
            _ = out.closed() => return,
        }
    }
}

/// A fresh pub/sub connection subscribed to `channel`.
async fn subscribed(client: &redis::Client, channel: &str) -> redis::RedisResult<PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// Passes the connection's messages to `out` until one side ends, pinging a quiet connection
/// now and then so a dead one is noticed.
async fn relay(pubsub: PubSub, out: &mpsc::Sender<Received>) -> Ended {
    let (mut sink, mut stream) = pubsub.split();
    let first = tokio::time::Instant::now() + SUBSCRIPTION_PING;
    let mut ping = tokio::time::interval_at(first, SUBSCRIPTION_PING);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return Ended::Lost("the connection closed".into());
                };
                match message.get_payload::<String>() {
                    Ok(text) => {
                        if out.send(Received::Message(text)).await.is_err() {
                            return Ended::Dropped;
                        }
                    }
                    Err(e) => tracing::warn!(channel = %message.get_channel_name(), error = %e,
                        "redis message that is not text; ignored"),
                }
            }
            _ = ping.tick() => {
                if let Err(e) = bounded(sink.ping::<redis::Value>()).await {
                    return Ended::Lost(format!("no answer to a ping: {e}"));
                }
            }
            _ = out.closed() => return Ended::Dropped,
        }
    }
}

/// `RESUBSCRIBE_PAUSE` doubled per failure in a row, at most `MAX_RESUBSCRIBE_PAUSE`.
fn resubscribe_pause(failures: u32) -> Duration {
    RESUBSCRIBE_PAUSE
        .saturating_mul(1 << failures.min(8))
        .min(MAX_RESUBSCRIBE_PAUSE)
}

/// A Redis call cut at `REDIS_TIMEOUT`, whatever the connection is doing.
async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout(REDIS_TIMEOUT)),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The embedded store: a map with lazy expiry, swept now and then, and a bus of
/// `(channel, message)` for `publish`/`subscribe` within the process.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
    bus: broadcast::Sender<(String, String)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            inner: Arc::default(),
            bus: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

#[derive(Default)]
struct MemoryInner {
    entries: HashMap<String, Entry>,
    writes: u64,
}

struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave a half-written entry, so go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, channel: &str, message: &str) {
        // An error only says nobody subscribes right now.
        let _ = self.bus.send((channel.to_string(), message.to_string()));
    }

    fn get(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone())
    }

    fn set(&self, key: &str, value: String, ttl: Option<Duration>) {
        let mut inner = self.lock();
        inner.note_write();
        let expires = ttl.map(|t| Instant::now() + t);
        inner
            .entries
            .insert(key.to_string(), Entry { value, expires });
    }

    fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.entries.get(key).is_some_and(|e| e.live(now)) {
            return false;
        }
        inner.note_write();
        inner.entries.insert(
            key.to_string(),
            Entry {
                value: value.to_string(),
                expires: Some(now + ttl),
            },
        );
        true
    }

    fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.entries.remove(key).is_some_and(|e| e.live(now))
    }

    fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> i64 {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.note_write();
        let entry = inner
            .entries
            .entry(key.to_string())
            .and_modify(|e| {
                if !e.live(now) {
                    *e = Entry {
                        value: "0".into(),
                        expires: ttl.map(|t| now + t),
                    };
                }
            })
            .or_insert_with(|| Entry {
                value: "0".into(),
                expires: ttl.map(|t| now + t),
            });
        let next = entry.value.parse::<i64>().unwrap_or(0).saturating_add(by);
        entry.value = next.to_string();
        next
    }

    fn ttl(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|e| e.live(now))
            .and_then(|e| e.expires)
            .map(|t| t.saturating_duration_since(now))
    }
}

impl MemoryInner {
    /// Drops expired entries every so many writes, so the map cannot grow without bound.
    fn note_write(&mut self) {
        self.writes += 1;
        if self.writes.is_multiple_of(1024) {
            let now = Instant::now();
            self.entries.retain(|_, e| e.live(now));
        }
    }
}

fn kv_error(err: StoreError) -> KvError {
    KvError {
        message: err.to_string(),
    }
}

/// What `kv` reaches of an instance's store: the shared key-value store.
pub struct KvCtx<'a> {
    /// The Core's store, shared by every instance.
    pub store: &'a Store,
}

/// Links `kv` to a [`KvCtx`] view of the store.
pub struct KvView;

impl HasData for KvView {
    type Data<'a> = KvCtx<'a>;
}

impl wit::Host for KvCtx<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, KvError>> {
        let store = self.store;
        Ok(store.get(&store.key(&key)).await.map_err(kv_error))
    }

    async fn get_many(
        &mut self,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<String>>, KvError>> {
        if keys.len() > MAX_GET_MANY {
            return Ok(Err(KvError {
                message: format!("get-many takes at most {MAX_GET_MANY} keys"),
            }));
        }
        let store = self.store;
        let keys: Vec<String> = keys.iter().map(|k| store.key(k)).collect();
        Ok(store.get_many(&keys).await.map_err(kv_error))
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        let ttl = ttl_ms.map(Duration::from_millis);
        let store = self.store;
        Ok(store
            .set(&store.key(&key), &value, ttl)
            .await
            .map_err(kv_error))
    }

    async fn set_many(
        &mut self,
        entries: Vec<(String, String)>,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        if entries.len() > MAX_SET_MANY {
            return Ok(Err(KvError {
                message: format!("set-many takes at most {MAX_SET_MANY} entries"),
            }));
        }
        let store = self.store;
        let entries: Vec<(String, String)> = entries
            .into_iter()
            .map(|(k, v)| (store.key(&k), v))
            .collect();
        let ttl = ttl_ms.map(Duration::from_millis);
        Ok(store.set_many(&entries, ttl).await.map_err(kv_error))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        let store = self.store;
        Ok(store.delete(&store.key(&key)).await.map_err(kv_error))
    }

    async fn incr(
        &mut self,
        key: String,
        by: i64,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<Result<i64, KvError>> {
        let ttl = ttl_ms.map(Duration::from_millis);
        let store = self.store;
        Ok(store
            .incr(&store.key(&key), by, ttl)
            .await
            .map_err(kv_error))
    }

    async fn ttl_ms(&mut self, key: String) -> wasmtime::Result<Result<Option<u64>, KvError>> {
        let store = self.store;
        let ttl = store.ttl(&store.key(&key)).await.map_err(kv_error);
        Ok(ttl.map(|t| t.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host as _;

    async fn in_memory(prefix: &str) -> Store {
        let settings = KvSettings {
            target: KvTarget::Memory,
            prefix: prefix.into(),
        };
        Store::connect(&settings).await.expect("in-process store")
    }

    #[tokio::test]
    async fn components_keys_live_under_the_prefix() {
        let store = in_memory("p:").await;
        let mut kv = KvCtx { store: &store };
        kv.set("k".into(), "v".into(), None)
            .await
            .expect("call")
            .expect("set");
        assert_eq!(store.get("p:k").await.expect("get"), Some("v".into()));
        assert_eq!(store.get("k").await.expect("get"), None);
        assert_eq!(
            kv.get_many(vec!["k".into(), "x".into()])
                .await
                .expect("call")
                .expect("get-many"),
            vec![Some("v".into()), None]
        );
        assert_eq!(
            kv.incr("n".into(), 2, None)
                .await
                .expect("call")
                .expect("incr"),
            2
        );
        assert_eq!(store.get("p:n").await.expect("get"), Some("2".into()));
        assert!(kv.delete("k".into()).await.expect("call").expect("delete"));
        assert_eq!(store.get("p:k").await.expect("get"), None);
    }

    #[tokio::test]
    async fn batches_past_their_bound_are_refused() {
        let store = in_memory("").await;
        let mut kv = KvCtx { store: &store };
        let keys = vec![String::new(); MAX_GET_MANY + 1];
        assert!(kv.get_many(keys).await.expect("call").is_err());
        let entries = vec![(String::new(), String::new()); MAX_SET_MANY + 1];
        assert!(kv.set_many(entries, None).await.expect("call").is_err());
    }

    #[test]
    fn memory_incr_keeps_the_first_expiry() {
        let m = MemoryStore::default();
        assert_eq!(m.incr("k", 1, Some(Duration::from_secs(60))), 1);
        assert_eq!(m.incr("k", 2, Some(Duration::from_secs(600))), 3);
        let ttl = m.ttl("k").expect("has ttl");
        assert!(ttl <= Duration::from_secs(60), "{ttl:?}");
    }

    #[test]
    fn memory_set_nx_holds_until_expiry() {
        let m = MemoryStore::default();
        assert!(m.set_nx("lock", "a", Duration::from_millis(20)));
        assert!(!m.set_nx("lock", "b", Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            m.set_nx("lock", "c", Duration::from_millis(20)),
            "an expired lock can be taken"
        );
    }

    #[test]
    fn memory_expired_entries_read_as_missing() {
        let m = MemoryStore::default();
        m.set("k", "v".into(), Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(m.get("k"), None);
        assert!(!m.delete("k"));
        assert_eq!(
            m.incr("k", 5, None),
            5,
            "an expired counter starts again from 0"
        );
    }

    #[tokio::test]
    async fn memory_subscribers_hear_their_channel_only() {
        let store = in_memory("").await;
        store
            .publish("before", "nobody listens")
            .await
            .expect("publish");
        let mut sub = store.subscribe("news");
        store.publish("other", "not for us").await.expect("publish");
        store.publish("news", "7").await.expect("publish");
        assert_eq!(sub.next().await, Some(Received::Message("7".into())));
    }

    #[tokio::test]
    async fn a_memory_subscriber_that_falls_behind_hears_it_missed_messages() {
        let store = in_memory("").await;
        let mut sub = store.subscribe("news");
        for n in 0..BUS_CAPACITY + 5 {
            store
                .publish("news", &n.to_string())
                .await
                .expect("publish");
        }
        assert_eq!(sub.next().await, Some(Received::Missed));
        assert_eq!(sub.next().await, Some(Received::Message("5".into())));
    }

    #[test]
    fn the_resubscribe_pause_grows_to_its_ceiling() {
        assert_eq!(resubscribe_pause(0), RESUBSCRIBE_PAUSE);
        assert_eq!(resubscribe_pause(2), RESUBSCRIBE_PAUSE * 4);
        assert_eq!(resubscribe_pause(40), MAX_RESUBSCRIBE_PAUSE);
    }

    #[tokio::test]
    async fn set_many_writes_every_entry_with_the_expiry() {
        let store = in_memory("").await;
        let entries = vec![("a".to_string(), "1".to_string()), ("b".into(), "2".into())];
        store
            .set_many(&entries, Some(Duration::from_secs(60)))
            .await
            .expect("set");
        let keys = ["a".to_string(), "b".into(), "c".into()];
        assert_eq!(
            store.get_many(&keys).await.expect("get"),
            vec![Some("1".into()), Some("2".into()), None]
        );
        let ttl = store.ttl("b").await.expect("ttl").expect("expires");
        assert!(ttl > Duration::from_secs(50), "{ttl:?}");
    }
}
