//! The response cache: answers a component let the host keep (`nexuma:core/response-cache`),
//! given again without running the component while the key-value entries they depend on still
//! hold the values they were built under. Also the conditional answer (`If-None-Match` → 304)
//! every route gets.
//!
//! Answers live in this process's memory, bounded by `RESPONSE_CACHE_MB`; the entries they depend
//! on live in the shared key-value store, so a change made through any replica retires them on
//! every replica at its next request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::bindings::nexuma::core::response_cache::Policy;
use crate::iface::kv::Store;
use crate::metrics;
use crate::response::Response;

/// The longest an answer is kept, whatever a component asks for.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most key-value entries one answer may depend on (each is read on every repeat).
const MAX_DEPENDENCIES: usize = 8;
/// Most request headers one route's answers may vary on.
const MAX_VARY: usize = 8;

/// An answer as kept.
pub struct KeptAnswer {
    /// The content hash of the component that made it: a swapped-in version answers anew.
    component_sha256: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Prefixed key-value keys, and the values the answer was built under (same order): all
    /// read back in one round trip on every repeat.
    depends_on: Vec<String>,
    built_under: Vec<Option<String>>,
    expires: Instant,
}

impl KeptAnswer {
    pub fn response(&self) -> Response {
        let mut resp = http::Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }

    /// What keeping this answer costs in memory, as near as the allocator's bookkeeping allows:
    /// `RESPONSE_CACHE_MB` bounds the process's memory, not just the bodies it holds.
    fn weight(&self, key: &str) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + PER_HEADER)
            .sum();
        let deps: usize = self
            .depends_on
            .iter()
            .zip(&self.built_under)
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len) + 2 * PER_STRING)
            .sum();
        let body = self.body.len().next_multiple_of(BODY_ROUNDING);
        let held = key.len() + headers + deps + body + PER_ANSWER;
        (held + held * GAPS_PERCENT / 100) as u64
    }
}

/// Answers come and go in random order, so the heap holds them with gaps between: measured
/// under cold `/sub` load, a full cache cost ~1.25x what its answers hold. The weight carries
/// that, so `RESPONSE_CACHE_MB` bounds the memory the cache really takes.
const GAPS_PERCENT: usize = 25;

/// A kept header's cost beside its name and value: its map entry and the value's allocation.
const PER_HEADER: usize = 96;
/// A string's allocation beside its bytes.
const PER_STRING: usize = 32;
/// An answer's fixed cost: the record, its `Arc`, the header map's index, the component hash,
/// the cache's slot and the key's allocation.
const PER_ANSWER: usize = 640;
/// Bodies are allocated in size classes about 1/8 apart: a 12 KiB body takes up to 1.5 KiB more.
const BODY_ROUNDING: usize = 1024;

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<String, Arc<KeptAnswer>> for ByWeight {
    fn weight(&self, key: &String, kept: &Arc<KeptAnswer>) -> u64 {
        kept.weight(key)
    }
}

pub struct ResponseCache {
    /// `None` when `RESPONSE_CACHE_MB` is 0.
    answers: Option<quick_cache::sync::Cache<String, Arc<KeptAnswer>, ByWeight>>,
    /// Per route pattern: the request headers its kept answers vary on. A route that never
    /// kept an answer is not here, so its requests skip the cache at no cost.
    vary: RwLock<HashMap<String, Arc<[String]>>>,
}

impl ResponseCache {
    pub fn new(capacity_bytes: u64) -> Self {
        // About 16 KiB an answer, for the cache's initial sizing only.
        let items = usize::try_from(capacity_bytes / 16_384).unwrap_or(usize::MAX);
        let answers = (capacity_bytes > 0).then(|| {
            quick_cache::sync::Cache::with_weighter(items.max(16), capacity_bytes, ByWeight)
        });
        ResponseCache {
            answers,
            vary: RwLock::new(HashMap::new()),
        }
    }

    /// The cache key of a request to `route` at `target` (path and query as sent), or `None`
    /// when that route keeps nothing.
    pub fn key(&self, route: &str, target: &str, headers: &HeaderMap) -> Option<String> {
        self.answers.as_ref()?;
        let vary = self.vary.read().ok()?.get(route).cloned()?;
        Some(compose_key(route, target, &vary, headers))
    }

    /// The kept answer under `key` when it was made by this version of the component and all
    /// it depends on still holds; a stale answer is dropped.
    pub async fn find(
        &self,
        key: &str,
        component_sha256: &str,
        kv: &Store,
    ) -> Option<Arc<KeptAnswer>> {
        let answers = self.answers.as_ref()?;
        let kept = answers.get(key)?;
        let fresh = kept.component_sha256 == component_sha256
            && kept.expires > Instant::now()
            && unchanged(&kept.depends_on, &kept.built_under, kv).await;
        if fresh {
            metrics::response_cache("hit");
            return Some(kept);
        }
        metrics::response_cache("stale");
        answers.remove_if(key, |current| Arc::ptr_eq(current, &kept));
        None
    }

    /// Keeps a component's answer to a request under `policy`. Only a 200 is kept; the keys it
    /// depends on are the component's keys in `kv`, so they are kept as stored (prefixed).
    #[allow(clippy::too_many_arguments)]
    pub fn keep(
        &self,
        route: &str,
        target: &str,
        request_headers: &HeaderMap,
        component_sha256: &str,
        kv: &Store,
        policy: Policy,
        response: &Response,
        body: Bytes,
    ) {
        let Some(answers) = &self.answers else {
            return;
        };
        // A shared cache never keeps a cookie meant for one client.
        if response.status() != StatusCode::OK
            || response.headers().contains_key(http::header::SET_COOKIE)
            || policy.ttl_ms == 0
            || policy.depends_on.len() > MAX_DEPENDENCIES
            || policy.vary.len() > MAX_VARY
        {
            return;
        }
        let vary: Arc<[String]> = policy.vary.iter().map(|h| h.to_ascii_lowercase()).collect();
        // A route's answers vary on one list of headers: the newest policy's. Read first: the
        // list rarely changes, and every kept answer passes here.
        let known = self
            .vary
            .read()
            .is_ok_and(|routes| routes.get(route).is_some_and(|v| *v == vary));
        if !known {
            let Ok(mut routes) = self.vary.write() else {
                return;
            };
            routes.insert(route.to_string(), Arc::clone(&vary));
        }
        let ttl = Duration::from_millis(policy.ttl_ms).min(MAX_TTL);
        let (depends_on, built_under) = policy
            .depends_on
            .into_iter()
            .map(|(k, v)| (format!("{}{k}", kv.prefix()), v))
            .unzip();
        let kept = KeptAnswer {
            component_sha256: component_sha256.to_string(),
            status: response.status(),
            headers: response.headers().clone(),
            body,
            depends_on,
            built_under,
            expires: Instant::now() + ttl,
        };
        answers.insert(
            compose_key(route, target, &vary, request_headers),
            Arc::new(kept),
        );
        metrics::response_cache("kept");
    }
}

fn compose_key(route: &str, target: &str, vary: &[String], headers: &HeaderMap) -> String {
    let mut key = String::with_capacity(route.len() + target.len() + 64);
    key.push_str(route);
    key.push('\n');
    key.push_str(target);
    for name in vary {
        key.push('\n');
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            // Absent differs from empty.
            key.push('\0');
        }
        for (i, v) in values.enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    key
}

/// Whether every entry still has its value; an unreadable store counts as changed.
async fn unchanged(keys: &[String], values: &[Option<String>], kv: &Store) -> bool {
    keys.is_empty() || kv.get_many(keys).await.is_ok_and(|now| now == values)
}

/// A 304 in place of a 200 whose `ETag` the request's `If-None-Match` names (RFC 9110 §13.1.2);
/// any other answer as it is. For GET and HEAD only: the caller passes `None` otherwise.
pub fn conditional(if_none_match: Option<&HeaderValue>, mut response: Response) -> Response {
    let Some(wanted) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return response;
    };
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(etag) = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
    else {
        return response;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let etag = opaque(etag);
    let matches = wanted
        .split(',')
        .any(|t| t.trim() == "*" || opaque(t) == etag);
    if !matches {
        return response;
    }
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    *response.body_mut() = Full::new(Bytes::new());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-process key-value store with the prefix `p:`.
    async fn memory_store() -> Store {
        Store::connect(&crate::config::KvSettings {
            target: crate::config::KvTarget::Memory,
            prefix: "p:".into(),
        })
        .await
        .expect("an in-process store")
    }

    fn answer(etag: &str) -> Response {
        let mut r = http::Response::new(Full::new(Bytes::from_static(b"body")));
        r.headers_mut().insert(
            http::header::ETAG,
            HeaderValue::from_str(etag).expect("etag"),
        );
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        r
    }

    #[test]
    fn if_none_match_turns_a_matching_200_into_a_304() {
        let tag = HeaderValue::from_static("\"a\", W/\"b\"");
        let hit = conditional(Some(&tag), answer("\"b\""));
        assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
        assert!(hit.headers().get(http::header::CONTENT_TYPE).is_none());
        assert_eq!(
            hit.headers().get(http::header::ETAG).expect("etag kept"),
            "\"b\""
        );
        let miss = conditional(Some(&tag), answer("\"c\""));
        assert_eq!(miss.status(), StatusCode::OK);
        let plain = conditional(None, answer("\"a\""));
        assert_eq!(plain.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn only_a_cookieless_200_is_kept() {
        let kv = memory_store().await;
        let cache = ResponseCache::new(1 << 20);
        let policy = || Policy {
            vary: vec!["User-Agent".into()],
            depends_on: vec![("epoch".into(), Some("1".into()))],
            ttl_ms: 60_000,
        };
        let keep = |response: &Response| {
            cache.keep(
                "/r",
                "/r/1",
                &HeaderMap::new(),
                "sha",
                &kv,
                policy(),
                response,
                Bytes::from_static(b"body"),
            )
        };
        let mut cookie = answer("\"a\"");
        cookie
            .headers_mut()
            .insert(http::header::SET_COOKIE, HeaderValue::from_static("s=1"));
        keep(&cookie);
        let mut teapot = answer("\"a\"");
        *teapot.status_mut() = StatusCode::IM_A_TEAPOT;
        keep(&teapot);
        assert!(
            cache.key("/r", "/r/1", &HeaderMap::new()).is_none(),
            "nothing kept"
        );

        keep(&answer("\"a\""));
        let key = cache
            .key("/r", "/r/1", &HeaderMap::new())
            .expect("the route keeps answers now");
        let kept = cache
            .answers
            .as_ref()
            .and_then(|a| a.get(&key))
            .expect("kept");
        assert_eq!(kept.depends_on, vec!["p:epoch".to_string()]);
        assert_eq!(kept.built_under, vec![Some("1".to_string())]);
        assert_eq!(kept.body, Bytes::from_static(b"body"));
    }

    /// The budget bounds what answers really cost, not their bodies: 1 MiB keeps fewer than
    /// 1 MiB / 10 KiB answers of 10 KiB, and each weighs at least its body and headers.
    #[tokio::test]
    async fn the_budget_counts_an_answers_whole_cost() {
        let kv = memory_store().await;
        let cache = ResponseCache::new(1 << 20);
        let body = Bytes::from(vec![b'x'; 10 * 1024]);
        for n in 0..200 {
            let target = format!("/r/{n}");
            let policy = Policy {
                vary: vec![],
                depends_on: vec![("epoch".into(), Some("1".into()))],
                ttl_ms: 60_000,
            };
            let response = answer("\"a\"");
            cache.keep(
                "/r",
                &target,
                &HeaderMap::new(),
                "sha",
                &kv,
                policy,
                &response,
                body.clone(),
            );
        }
        let answers = cache.answers.as_ref().expect("a cache");
        let kept = answers.len() as u64;
        let one = answers
            .iter()
            .next()
            .map(|(k, v)| v.weight(&k))
            .expect("one kept");
        assert!(one >= 10 * 1024 * 5 / 4, "{one}");
        assert!(
            kept > 0 && kept * one <= 1 << 20,
            "{kept} answers of {one} bytes"
        );
        assert!(kept < (1 << 20) / (10 * 1024), "{kept}");
    }

    #[test]
    fn keys_tell_absent_headers_from_empty_ones() {
        let vary = ["user-agent".to_string()];
        let mut empty = HeaderMap::new();
        empty.insert("user-agent", HeaderValue::from_static(""));
        let absent = compose_key("/r", "/r?x", &vary, &HeaderMap::new());
        assert_ne!(absent, compose_key("/r", "/r?x", &vary, &empty));
        let mut other = HeaderMap::new();
        other.insert("user-agent", HeaderValue::from_static("clash"));
        assert_ne!(absent, compose_key("/r", "/r?x", &vary, &other));
        assert_ne!(
            compose_key("/r", "/r?x", &vary, &other),
            compose_key("/r", "/r?y", &vary, &other)
        );
    }
}
