//! sing-box client config: tun and mixed inbounds, a selector and an urltest over the proxies,
//! DNS and route in the form the client's version loads ([`Class`]).
//!
//! Outbounds are typed (serialized without building a JSON tree): a subscription renders them
//! for every poll that misses the cache.

use serde::Serialize;
use serde_json::{json, Value};
use serde_with::skip_serializing_none;

use crate::clash::split_early_data;
use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

pub const SELECTOR: &str = "proxy";
pub const URLTEST: &str = "auto";

/// One proxy outbound.
#[skip_serializing_none]
#[derive(Serialize, Debug)]
pub struct Outbound<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tag: &'a str,
    server: &'a str,
    server_port: u16,
    uuid: Option<&'a str>,
    flow: Option<&'a str>,
    packet_encoding: Option<&'static str>,
    security: Option<&'static str>,
    alter_id: Option<u8>,
    method: Option<&'a str>,
    password: Option<String>,
    tls: Option<Tls<'a>>,
    transport: Option<Transport<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Tls<'a> {
    enabled: bool,
    server_name: Option<&'a str>,
    insecure: Option<bool>,
    alpn: Option<&'a [String]>,
    utls: Utls<'a>,
    reality: Option<Reality<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Utls<'a> {
    enabled: bool,
    fingerprint: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Reality<'a> {
    enabled: bool,
    public_key: Option<&'a str>,
    short_id: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Transport<'a> {
    Ws {
        path: String,
        headers: Option<HostHeader<'a>>,
        max_early_data: Option<u32>,
        early_data_header_name: Option<&'static str>,
    },
    Httpupgrade {
        path: &'a str,
        host: Option<&'a str>,
    },
    Grpc {
        service_name: Option<&'a str>,
    },
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct HostHeader<'a> {
    #[serde(rename = "Host")]
    host: &'a str,
}

fn tls(c: &Connection) -> Option<Tls<'_>> {
    if c.security == Security::None {
        return None;
    }
    Some(Tls {
        enabled: true,
        server_name: c.sni.as_deref(),
        insecure: c.allow_insecure.then_some(true),
        alpn: (!c.alpn.is_empty()).then_some(c.alpn.as_slice()),
        // REALITY cannot work without uTLS.
        utls: Utls {
            enabled: true,
            fingerprint: c.fingerprint.as_deref().unwrap_or("chrome"),
        },
        reality: (c.security == Security::Reality).then(|| Reality {
            enabled: true,
            public_key: c.reality_public_key.as_deref(),
            short_id: c.reality_short_id.as_deref().unwrap_or_default(),
        }),
    })
}

fn transport(c: &Connection) -> Option<Transport<'_>> {
    match c.network {
        Network::Tcp | Network::Xhttp => None,
        Network::Ws => {
            let (path, early) = split_early_data(c.path.as_deref().unwrap_or("/"));
            Some(Transport::Ws {
                path,
                headers: c.host.as_deref().map(|host| HostHeader { host }),
                max_early_data: early,
                early_data_header_name: early.map(|_| "Sec-WebSocket-Protocol"),
            })
        }
        Network::Httpupgrade => Some(Transport::Httpupgrade {
            path: c.path.as_deref().unwrap_or("/"),
            host: c.host.as_deref(),
        }),
        Network::Grpc => Some(Transport::Grpc {
            service_name: c.service_name.as_deref(),
        }),
    }
}

/// One outbound, or `None` when sing-box cannot use the connection (xhttp).
pub fn outbound(c: &Connection) -> Option<Outbound<'_>> {
    if c.network == Network::Xhttp {
        return None;
    }
    let mut o = Outbound {
        kind: match c.protocol {
            Protocol::Vless => "vless",
            Protocol::Vmess => "vmess",
            Protocol::Trojan => "trojan",
            Protocol::Shadowsocks => "shadowsocks",
        },
        tag: &c.name,
        server: &c.address,
        server_port: c.port,
        uuid: None,
        flow: None,
        packet_encoding: None,
        security: None,
        alter_id: None,
        method: None,
        password: None,
        tls: None,
        transport: None,
    };
    match c.protocol {
        Protocol::Vless => {
            o.uuid = Some(&c.secret);
            o.flow = c.effective_flow();
            o.packet_encoding = Some("xudp");
        }
        Protocol::Vmess => {
            o.uuid = Some(&c.secret);
            o.security = Some("auto");
            o.alter_id = Some(0);
        }
        Protocol::Trojan => o.password = Some(c.secret.clone()),
        Protocol::Shadowsocks => {
            o.method = c.ss_method.as_deref();
            o.password = Some(c.ss_password());
        }
    }
    if c.protocol != Protocol::Shadowsocks {
        o.tls = tls(c);
        o.transport = transport(c);
    }
    Some(o)
}

/// An entry of `outbounds`: a fixed one (groups, direct) or a proxy.
// Nearly every entry is a proxy: boxing them would cost an allocation each for no saving.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Fixed(Value),
    Proxy(Outbound<'a>),
}

#[derive(Serialize)]
struct Document<'a> {
    log: Value,
    dns: Value,
    inbounds: Value,
    outbounds: Vec<Entry<'a>>,
    route: Value,
    experimental: Value,
}

/// The config forms sing-box versions load, each named by the first version that loads it
/// (docs/deprecated.md and docs/migration.md of SagerNet/sing-box).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Before 1.10: tun `inet4_address`/`inet6_address`, inbound sniffing, a `dns` outbound.
    V1_8,
    /// 1.10: as 1.8 with the merged tun `address`.
    V1_10,
    /// 1.11: rule actions (`sniff`, `hijack-dns`) with the legacy DNS servers.
    V1_11,
    /// 1.12 and later: typed DNS servers and `route.default_domain_resolver`.
    V1_12,
}

impl Class {
    /// For a client whose version is unknown: the 1.11 form. It loads on 1.11 and 1.12, and in
    /// the 1.13 apps (their deprecation notes are only shown); the 1.8/1.10 forms stop at 1.12,
    /// whose command-line core refuses the `dns` outbound and inbound sniffing (deprecated
    /// features due for removal in the next minor version are fatal:
    /// experimental/deprecated/stderr.go), and the 1.12 form needs 1.12.
    pub const WIDEST: Class = Class::V1_11;

    /// The form a core of this version loads.
    pub fn of(major: u32, minor: u32) -> Class {
        match (major, minor) {
            (0, _) | (1, 0..=9) => Class::V1_8,
            (1, 10) => Class::V1_10,
            (1, 11) => Class::V1_11,
            _ => Class::V1_12,
        }
    }

    fn has_rule_actions(self) -> bool {
        self >= Class::V1_11
    }
}

/// The outbound legacy forms route DNS queries to (rule actions replaced it in 1.11).
const DNS_OUT: &str = "dns-out";

fn dns(class: Class) -> Value {
    if class >= Class::V1_12 {
        return json!({
            "servers": [
                { "type": "https", "tag": "dns-remote", "server": "1.1.1.1", "detour": SELECTOR },
                { "type": "local", "tag": "dns-local" }
            ],
            "final": "dns-remote",
            "strategy": "prefer_ipv4"
        });
    }
    // Legacy servers have no `domain_resolver`: the proxies' own names are resolved locally by
    // a rule, never through the proxy they lead to.
    json!({
        "servers": [
            { "tag": "dns-remote", "address": "https://1.1.1.1/dns-query", "detour": SELECTOR },
            { "tag": "dns-local", "address": "local" }
        ],
        "rules": [{ "outbound": "any", "server": "dns-local" }],
        "final": "dns-remote",
        "strategy": "prefer_ipv4"
    })
}

fn inbounds(class: Class) -> Value {
    let mut tun = json!({ "type": "tun", "tag": "tun-in", "auto_route": true,
                          "strict_route": true, "stack": "mixed" });
    let mut mixed = json!({ "type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1",
                            "listen_port": 2080 });
    if class >= Class::V1_10 {
        tun["address"] = json!(["172.19.0.1/30", "fdfe:dcba:9876::1/126"]);
    } else {
        tun["inet4_address"] = json!("172.19.0.1/30");
        tun["inet6_address"] = json!("fdfe:dcba:9876::1/126");
    }
    if !class.has_rule_actions() {
        // Without the `sniff` action, DNS queries are told apart only by inbound sniffing.
        tun["sniff"] = json!(true);
        mixed["sniff"] = json!(true);
    }
    json!([tun, mixed])
}

fn route(class: Class) -> Value {
    let mut route = if class.has_rule_actions() {
        json!({ "rules": [
            { "action": "sniff" },
            { "protocol": "dns", "action": "hijack-dns" },
            { "ip_is_private": true, "outbound": "direct" }
        ] })
    } else {
        json!({ "rules": [
            { "protocol": "dns", "outbound": DNS_OUT },
            { "ip_is_private": true, "outbound": "direct" }
        ] })
    };
    route["final"] = json!(SELECTOR);
    route["auto_detect_interface"] = json!(true);
    if class >= Class::V1_12 {
        route["default_domain_resolver"] = json!("dns-local");
    }
    route
}

/// A complete sing-box config for these connections (names already unique), in the form a
/// core of `class` loads.
pub fn config(connections: &[Connection], class: Class) -> String {
    let proxies: Vec<Outbound> = connections.iter().filter_map(outbound).collect();
    let (members, select) = crate::groups(proxies.iter().map(|p| p.tag), "direct", URLTEST);
    let mut outbounds = vec![
        Entry::Fixed(
            json!({ "type": "selector", "tag": SELECTOR, "outbounds": select, "default": URLTEST,
                    "interrupt_exist_connections": true }),
        ),
        Entry::Fixed(
            json!({ "type": "urltest", "tag": URLTEST, "outbounds": members,
                "url": "https://www.gstatic.com/generate_204", "interval": "3m", "tolerance": 50 }),
        ),
    ];
    outbounds.extend(proxies.into_iter().map(Entry::Proxy));
    outbounds.push(Entry::Fixed(json!({ "type": "direct", "tag": "direct" })));
    if !class.has_rule_actions() {
        outbounds.push(Entry::Fixed(json!({ "type": "dns", "tag": DNS_OUT })));
    }
    let doc = Document {
        log: json!({ "level": "warn" }),
        dns: dns(class),
        inbounds: inbounds(class),
        outbounds,
        route: route(class),
        experimental: json!({ "cache_file": { "enabled": true } }),
    };
    // Compact: clients read it, not people, and indenting costs a third of the render.
    serde_json::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{conn, PRIVATE, UUID};

    /// Fields each sing-box version documents, copied from SagerNet/sing-box
    /// `docs/configuration/**` at the tag named in each list's comment; a list holds only the
    /// fields of objects this config writes. Deprecated fields that the next minor version
    /// removes are left out (`docs/deprecated.md`): the command-line core refuses them.
    struct Docs {
        version: &'static str,
        /// `index.md`
        top: &'static [&'static str],
        /// `dns/index.md`
        dns: &'static [&'static str],
        /// `dns/server.md` (legacy) or `dns/server/{https,local}.md` + `shared/dial.md`
        dns_server: &'static [&'static str],
        /// `dns/rule.md`
        dns_rule: &'static [&'static str],
        /// `inbound/tun.md` (+ `shared/listen.md` for the sniffing fields)
        tun: &'static [&'static str],
        /// `inbound/mixed.md` + `shared/listen.md`
        mixed: &'static [&'static str],
        /// `route/index.md`
        route: &'static [&'static str],
        /// `route/rule.md` + `route/rule_action.md`
        route_rule: &'static [&'static str],
        /// `outbound/*.md`: the special outbounds this version still has
        special_outbounds: &'static [&'static str],
    }

    /// Identical at v1.9.7, v1.10.7, v1.11.15 and v1.12.24 for the fields used here:
    /// `log/index.md`, `experimental/index.md`, `experimental/cache-file.md`,
    /// `outbound/{selector,urltest,direct,vless,vmess,trojan,shadowsocks}.md`, `shared/tls.md`
    /// (outbound), `shared/v2ray-transport.md`.
    #[rustfmt::skip]
    mod shared {
        pub const LOG: &[&str] = &["disabled", "level", "output", "timestamp"];
        pub const EXPERIMENTAL: &[&str] = &["cache_file", "clash_api", "v2ray_api"];
        pub const CACHE_FILE: &[&str] = &["enabled", "path", "cache_id", "store_fakeip", "store_rdrc"];
        pub const SELECTOR: &[&str] = &["type", "tag", "outbounds", "default", "interrupt_exist_connections"];
        pub const URLTEST: &[&str] = &["type", "tag", "outbounds", "url", "interval", "tolerance",
            "idle_timeout", "interrupt_exist_connections"];
        pub const DIRECT: &[&str] = &["type", "tag"];
        pub const DNS_OUTBOUND: &[&str] = &["type", "tag"];
        pub const VLESS: &[&str] = &["type", "tag", "server", "server_port", "uuid", "flow", "network",
            "tls", "packet_encoding", "multiplex", "transport"];
        pub const VMESS: &[&str] = &["type", "tag", "server", "server_port", "uuid", "security",
            "alter_id", "global_padding", "authenticated_length", "network", "tls", "packet_encoding",
            "transport", "multiplex"];
        pub const TROJAN: &[&str] = &["type", "tag", "server", "server_port", "password", "network",
            "tls", "multiplex", "transport"];
        pub const SHADOWSOCKS: &[&str] = &["type", "tag", "server", "server_port", "method", "password",
            "plugin", "plugin_opts", "network", "udp_over_tcp", "multiplex"];
        pub const TLS: &[&str] = &["enabled", "disable_sni", "server_name", "insecure", "alpn",
            "min_version", "max_version", "cipher_suites", "certificate", "certificate_path", "ech",
            "utls", "reality"];
        pub const UTLS: &[&str] = &["enabled", "fingerprint"];
        pub const REALITY: &[&str] = &["enabled", "public_key", "short_id"];
        pub const WS: &[&str] = &["type", "path", "headers", "max_early_data", "early_data_header_name"];
        pub const HTTPUPGRADE: &[&str] = &["type", "host", "path", "headers"];
        pub const GRPC: &[&str] = &["type", "service_name", "idle_timeout", "ping_timeout",
            "permit_without_stream"];
        /// `route/rule.md`: the match fields used here.
        pub const RULE_MATCH: &[&str] = &["ip_is_private", "protocol", "invert"];
    }
    use shared::*;

    #[rustfmt::skip]
    const V1_9: Docs = Docs {
        version: "v1.9.7",
        top: &["log", "dns", "ntp", "inbounds", "outbounds", "route", "experimental"],
        dns: &["servers", "rules", "final", "strategy", "disable_cache", "disable_expire",
               "independent_cache", "reverse_mapping", "client_subnet", "fakeip"],
        dns_server: &["tag", "address", "address_resolver", "address_strategy", "strategy",
                      "detour", "client_subnet"],
        dns_rule: &["outbound", "server", "disable_cache", "rewrite_ttl", "client_subnet"],
        tun: &["type", "tag", "interface_name", "inet4_address", "inet6_address", "mtu", "gso",
               "auto_route", "strict_route", "stack", "endpoint_independent_nat", "udp_timeout",
               "platform", "sniff", "sniff_override_destination", "sniff_timeout"],
        mixed: &["type", "tag", "users", "set_system_proxy", "listen", "listen_port", "sniff",
                 "sniff_override_destination", "sniff_timeout"],
        route: &["geoip", "geosite", "rules", "rule_set", "final", "auto_detect_interface",
                 "override_android_vpn", "default_interface", "default_mark"],
        route_rule: &["outbound"],
        special_outbounds: &["dns"],
    };

    #[rustfmt::skip]
    const V1_10: Docs = Docs {
        version: "v1.10.7",
        // `address` merges inet4/inet6_address (kept in the doc, deprecated).
        tun: &["type", "tag", "interface_name", "address", "mtu", "gso", "auto_route",
               "strict_route", "stack", "endpoint_independent_nat", "udp_timeout", "platform",
               "sniff", "sniff_override_destination", "sniff_timeout"],
        ..V1_9
    };

    #[rustfmt::skip]
    const V1_11: Docs = Docs {
        version: "v1.11.15",
        top: &["log", "dns", "ntp", "endpoints", "inbounds", "outbounds", "route",
               "experimental"],
        dns: &["servers", "rules", "final", "strategy", "disable_cache", "disable_expire",
               "independent_cache", "cache_capacity", "reverse_mapping", "client_subnet",
               "fakeip"],
        dns_rule: &["outbound", "action", "server", "disable_cache", "rewrite_ttl",
                    "client_subnet"],
        // Inbound sniffing is deprecated here (removed in 1.13): the `sniff` action replaces it.
        tun: &["type", "tag", "interface_name", "address", "mtu", "auto_route", "strict_route",
               "stack", "endpoint_independent_nat", "udp_timeout", "platform"],
        mixed: &["type", "tag", "users", "set_system_proxy", "listen", "listen_port"],
        route: &["geoip", "geosite", "rules", "rule_set", "final", "auto_detect_interface",
                 "override_android_vpn", "default_interface", "default_mark",
                 "default_network_strategy", "default_network_type",
                 "default_fallback_network_type", "default_fallback_delay"],
        // `route_rule_action.md`: `sniff` (sniffer, timeout), `hijack-dns`, `route` (outbound).
        route_rule: &["action", "outbound", "sniffer", "timeout"],
        // Special outbounds are deprecated here (removed in 1.13).
        special_outbounds: &[],
        ..V1_10
    };

    #[rustfmt::skip]
    const V1_12: Docs = Docs {
        version: "v1.12.24",
        top: &["log", "dns", "ntp", "certificate", "endpoints", "inbounds", "outbounds",
               "route", "services", "experimental"],
        // `dns/server/https.md`, `dns/server/local.md` and the dial fields (`detour`).
        dns_server: &["type", "tag", "server", "server_port", "path", "headers", "tls",
                      "detour", "domain_resolver"],
        // The `outbound` DNS rule item is deprecated (`domain_resolver` replaces it).
        dns_rule: &["action", "server", "disable_cache", "rewrite_ttl", "client_subnet"],
        route: &["rules", "rule_set", "final", "auto_detect_interface", "override_android_vpn",
                 "default_interface", "default_mark", "default_domain_resolver",
                 "default_network_strategy", "default_network_type",
                 "default_fallback_network_type", "default_fallback_delay"],
        ..V1_11
    };

    fn keys_within(v: &Value, allowed: &[&str], at: &str, version: &str) {
        let object = v
            .as_object()
            .unwrap_or_else(|| panic!("{at} is not an object"));
        for key in object.keys() {
            assert!(
                allowed.contains(&key.as_str()),
                "{version} documents no `{key}` in {at}"
            );
        }
    }

    /// Every object of `doc` holds only fields `docs` documents.
    fn documented(doc: &Value, docs: &Docs) {
        let v = docs.version;
        let check = |value: &Value, allowed: &[&str], at: &str| keys_within(value, allowed, at, v);
        check(doc, docs.top, "the config");
        check(&doc["log"], LOG, "log");
        check(&doc["experimental"], EXPERIMENTAL, "experimental");
        check(&doc["experimental"]["cache_file"], CACHE_FILE, "cache_file");
        check(&doc["dns"], docs.dns, "dns");
        for s in doc["dns"]["servers"].as_array().unwrap() {
            check(s, docs.dns_server, "dns.servers[]");
        }
        for r in doc["dns"]["rules"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            check(r, docs.dns_rule, "dns.rules[]");
        }
        for i in doc["inbounds"].as_array().unwrap() {
            match i["type"].as_str() {
                Some("tun") => check(i, docs.tun, "the tun inbound"),
                Some("mixed") => check(i, docs.mixed, "the mixed inbound"),
                other => panic!("inbound type {other:?}"),
            }
        }
        check(&doc["route"], docs.route, "route");
        for r in doc["route"]["rules"].as_array().unwrap() {
            let allowed: Vec<&str> = docs.route_rule.iter().chain(RULE_MATCH).copied().collect();
            check(r, &allowed, "route.rules[]");
            if let Some(action) = r.get("action") {
                assert!(
                    ["route", "sniff", "hijack-dns"].contains(&action.as_str().unwrap()),
                    "{v}: action {action}"
                );
            }
        }
        for o in doc["outbounds"].as_array().unwrap() {
            let kind = o["type"].as_str().unwrap();
            let allowed = match kind {
                "selector" => shared::SELECTOR,
                "urltest" => shared::URLTEST,
                "direct" => DIRECT,
                "dns" if docs.special_outbounds.contains(&"dns") => DNS_OUTBOUND,
                "vless" => VLESS,
                "vmess" => VMESS,
                "trojan" => TROJAN,
                "shadowsocks" => SHADOWSOCKS,
                other => panic!("{v} has no outbound type `{other}` usable here"),
            };
            check(o, allowed, kind);
            if let Some(tls) = o.get("tls") {
                check(tls, TLS, "tls");
                check(&tls["utls"], UTLS, "tls.utls");
                if let Some(r) = tls.get("reality") {
                    check(r, REALITY, "tls.reality");
                }
            }
            if let Some(t) = o.get("transport") {
                let allowed = match t["type"].as_str() {
                    Some("ws") => WS,
                    Some("httpupgrade") => HTTPUPGRADE,
                    Some("grpc") => GRPC,
                    other => panic!("transport {other:?}"),
                };
                check(t, allowed, "transport");
            }
        }
    }

    fn every_kind() -> Vec<Connection> {
        vec![
            conn(
                json!({ "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
                "security": "reality", "reality": { "dest": "a.com:443", "serverNames": ["a.com"],
                "privateKey": PRIVATE, "shortIds": ["ab"] } }),
                "REALITY",
            ),
            conn(
                json!({ "tag": "h", "protocol": "vless", "port": 80, "network": "httpupgrade",
                "path": "/hu", "host": "h.example.com" }),
                "HU",
            ),
            conn(
                json!({ "tag": "s", "protocol": "shadowsocks", "port": 8388,
                "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
                "SS",
            ),
            conn(
                json!({ "tag": "w", "protocol": "vmess", "port": 80, "network": "ws",
                "path": "/vm?ed=2048", "host": "cdn.example.com", "security": "tls",
                "tls": { "serverName": "cdn.example.com" } }),
                "WS",
            ),
            conn(
                json!({ "tag": "g", "protocol": "trojan", "port": 443, "network": "grpc",
                "serviceName": "tg", "security": "tls",
                "tls": { "serverName": "t.example.com", "alpn": ["h2"] } }),
                "GRPC",
            ),
        ]
    }

    fn golden(class: Class) -> Value {
        let all = [conn(
            json!({ "tag": "v", "protocol": "vless", "port": 444 }),
            "V",
        )];
        serde_json::from_str(&config(&all, class)).unwrap()
    }

    /// What every class shares: the groups, the one proxy, direct.
    fn common_outbounds() -> Vec<Value> {
        vec![
            json!({ "type": "selector", "tag": "proxy", "outbounds": ["auto", "V"],
                    "default": "auto", "interrupt_exist_connections": true }),
            json!({ "type": "urltest", "tag": "auto", "outbounds": ["V"],
                    "url": "https://www.gstatic.com/generate_204", "interval": "3m",
                    "tolerance": 50 }),
            json!({ "type": "vless", "tag": "V", "server": "203.0.113.7", "server_port": 444,
                    "uuid": UUID, "packet_encoding": "xudp" }),
            json!({ "type": "direct", "tag": "direct" }),
        ]
    }

    fn legacy_dns() -> Value {
        json!({
            "servers": [
                { "tag": "dns-remote", "address": "https://1.1.1.1/dns-query", "detour": "proxy" },
                { "tag": "dns-local", "address": "local" }
            ],
            "rules": [{ "outbound": "any", "server": "dns-local" }],
            "final": "dns-remote", "strategy": "prefer_ipv4"
        })
    }

    fn legacy_route() -> Value {
        json!({
            "rules": [
                { "protocol": "dns", "outbound": "dns-out" },
                { "ip_is_private": true, "outbound": "direct" }
            ],
            "final": "proxy", "auto_detect_interface": true
        })
    }

    fn action_rules() -> Value {
        json!([
            { "action": "sniff" },
            { "protocol": "dns", "action": "hijack-dns" },
            { "ip_is_private": true, "outbound": "direct" }
        ])
    }

    fn whole(dns: Value, inbounds: Value, outbounds: Vec<Value>, route: Value) -> Value {
        json!({
            "log": { "level": "warn" }, "dns": dns, "inbounds": inbounds,
            "outbounds": outbounds, "route": route,
            "experimental": { "cache_file": { "enabled": true } }
        })
    }

    const MIXED: &str = "127.0.0.1";

    #[test]
    fn golden_1_8() {
        let mut outbounds = common_outbounds();
        outbounds.push(json!({ "type": "dns", "tag": "dns-out" }));
        let inbounds = json!([
            { "type": "tun", "tag": "tun-in", "inet4_address": "172.19.0.1/30",
              "inet6_address": "fdfe:dcba:9876::1/126", "auto_route": true,
              "strict_route": true, "stack": "mixed", "sniff": true },
            { "type": "mixed", "tag": "mixed-in", "listen": MIXED, "listen_port": 2080,
              "sniff": true }
        ]);
        let doc = golden(Class::V1_8);
        assert_eq!(
            doc,
            whole(legacy_dns(), inbounds, outbounds, legacy_route())
        );
        documented(&doc, &V1_9);
    }

    #[test]
    fn golden_1_10() {
        let mut outbounds = common_outbounds();
        outbounds.push(json!({ "type": "dns", "tag": "dns-out" }));
        let inbounds = json!([
            { "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
              "auto_route": true, "strict_route": true, "stack": "mixed", "sniff": true },
            { "type": "mixed", "tag": "mixed-in", "listen": MIXED, "listen_port": 2080,
              "sniff": true }
        ]);
        let doc = golden(Class::V1_10);
        assert_eq!(
            doc,
            whole(legacy_dns(), inbounds, outbounds, legacy_route())
        );
        documented(&doc, &V1_10);
    }

    fn actions_inbounds() -> Value {
        json!([
            { "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
              "auto_route": true, "strict_route": true, "stack": "mixed" },
            { "type": "mixed", "tag": "mixed-in", "listen": MIXED, "listen_port": 2080 }
        ])
    }

    #[test]
    fn golden_1_11() {
        let route =
            json!({ "rules": action_rules(), "final": "proxy", "auto_detect_interface": true });
        let doc = golden(Class::V1_11);
        assert_eq!(
            doc,
            whole(legacy_dns(), actions_inbounds(), common_outbounds(), route)
        );
        documented(&doc, &V1_11);
    }

    #[test]
    fn golden_1_12() {
        let dns = json!({
            "servers": [
                { "type": "https", "tag": "dns-remote", "server": "1.1.1.1", "detour": "proxy" },
                { "type": "local", "tag": "dns-local" }
            ],
            "final": "dns-remote", "strategy": "prefer_ipv4"
        });
        let route = json!({ "rules": action_rules(), "final": "proxy",
                            "auto_detect_interface": true, "default_domain_resolver": "dns-local" });
        let doc = golden(Class::V1_12);
        assert_eq!(
            doc,
            whole(dns, actions_inbounds(), common_outbounds(), route)
        );
        documented(&doc, &V1_12);
    }

    #[test]
    fn every_class_writes_only_documented_fields() {
        for (class, docs) in [
            (Class::V1_8, &V1_9),
            (Class::V1_10, &V1_10),
            (Class::V1_11, &V1_11),
            (Class::V1_12, &V1_12),
        ] {
            for connections in [every_kind(), Vec::new()] {
                let doc: Value = serde_json::from_str(&config(&connections, class)).unwrap();
                documented(&doc, docs);
            }
        }
    }

    #[test]
    fn a_newer_class_is_refused_by_an_older_version() {
        // The checker itself tells the forms apart: what 1.12 writes, 1.11 does not document.
        let doc: Value = serde_json::from_str(&config(&[], Class::V1_12)).unwrap();
        let refused = std::panic::catch_unwind(|| documented(&doc, &V1_11));
        assert!(refused.is_err());
        let doc: Value = serde_json::from_str(&config(&[], Class::V1_10)).unwrap();
        assert!(std::panic::catch_unwind(|| documented(&doc, &V1_12)).is_err());
    }

    #[test]
    fn versions_map_to_classes() {
        assert_eq!(Class::of(1, 7), Class::V1_8);
        assert_eq!(Class::of(1, 9), Class::V1_8);
        assert_eq!(Class::of(1, 10), Class::V1_10);
        assert_eq!(Class::of(1, 11), Class::V1_11);
        assert_eq!(Class::of(1, 12), Class::V1_12);
        assert_eq!(Class::of(1, 13), Class::V1_12);
        assert_eq!(Class::of(2, 0), Class::V1_12);
    }

    #[test]
    fn a_complete_config() {
        let all = vec![
            conn(
                json!({ "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
                "security": "reality", "reality": { "dest": "a.com:443", "serverNames": ["a.com"],
                "privateKey": PRIVATE, "shortIds": [""] } }),
                "REALITY",
            ),
            conn(
                json!({ "tag": "h", "protocol": "vless", "port": 80, "network": "httpupgrade",
                "path": "/hu", "host": "h.example.com" }),
                "HU",
            ),
            conn(
                json!({ "tag": "s", "protocol": "shadowsocks", "port": 8388,
                "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
                "SS",
            ),
            conn(
                json!({ "tag": "x", "protocol": "vless", "port": 1, "network": "xhttp" }),
                "XHTTP",
            ),
            conn(
                json!({ "tag": "w", "protocol": "vmess", "port": 80, "network": "ws",
                "path": "/vm?ed=2048", "host": "cdn.example.com" }),
                "WS",
            ),
            conn(
                json!({ "tag": "g", "protocol": "trojan", "port": 443, "network": "grpc",
                "serviceName": "tg", "security": "tls",
                "tls": { "serverName": "t.example.com", "alpn": ["h2"], "allowInsecure": true } }),
                "GRPC",
            ),
        ];
        let doc: Value = serde_json::from_str(&config(&all, Class::V1_12)).unwrap();
        let outbounds = doc["outbounds"].as_array().unwrap();
        let tags: Vec<&str> = outbounds
            .iter()
            .map(|o| o["tag"].as_str().unwrap())
            .collect();
        assert_eq!(
            tags,
            vec!["proxy", "auto", "REALITY", "HU", "SS", "WS", "GRPC", "direct"]
        );
        assert_eq!(
            outbounds[0]["outbounds"],
            json!(["auto", "REALITY", "HU", "SS", "WS", "GRPC"])
        );
        assert_eq!(outbounds[0]["default"], "auto");
        assert_eq!(
            outbounds[1]["outbounds"],
            json!(["REALITY", "HU", "SS", "WS", "GRPC"])
        );
        let r = &outbounds[2];
        assert_eq!(r["flow"], "xtls-rprx-vision");
        assert_eq!(r["tls"]["utls"]["enabled"], true);
        assert_eq!(r["tls"]["reality"]["short_id"], "");
        assert_eq!(r["tls"]["server_name"], "a.com");
        assert_eq!(
            outbounds[3]["transport"],
            json!({ "type": "httpupgrade", "path": "/hu", "host": "h.example.com" })
        );
        assert_eq!(
            outbounds[4]["password"],
            format!(
                "c2VydmVyUFNLMTZieXRlcw==:{}",
                crate::ss2022_user_key(UUID, 16)
            )
        );
        assert_eq!(outbounds[4]["method"], "2022-blake3-aes-128-gcm");
        assert!(outbounds[4].get("tls").is_none());
        let ws = &outbounds[5];
        assert_eq!(
            (ws["type"].as_str(), ws["security"].as_str()),
            (Some("vmess"), Some("auto"))
        );
        assert_eq!(ws["alter_id"], 0);
        assert_eq!(
            ws["transport"],
            json!({ "type": "ws", "path": "/vm", "headers": { "Host": "cdn.example.com" },
                    "max_early_data": 2048, "early_data_header_name": "Sec-WebSocket-Protocol" })
        );
        assert!(ws.get("tls").is_none());
        let grpc = &outbounds[6];
        assert_eq!(grpc["password"], UUID);
        assert_eq!(
            grpc["transport"],
            json!({ "type": "grpc", "service_name": "tg" })
        );
        assert_eq!(
            grpc["tls"],
            json!({ "enabled": true, "server_name": "t.example.com", "insecure": true,
                    "alpn": ["h2"], "utls": { "enabled": true, "fingerprint": "chrome" } })
        );
        assert_eq!(doc["route"]["final"], "proxy");
        assert_eq!(doc["route"]["default_domain_resolver"], "dns-local");
    }

    #[test]
    fn no_connections_still_loads() {
        let doc: Value = serde_json::from_str(&config(&[], Class::WIDEST)).unwrap();
        assert_eq!(doc["outbounds"][1]["outbounds"], json!(["direct"]));
    }
}
