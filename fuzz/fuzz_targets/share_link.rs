//! Share links (`xray::link::parse`, `POST /admin/xray/parse-link` and every external source's
//! lines): whatever parses renders back to a link that parses to the same connection, and the
//! formats built from it are documents their clients read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xray::link::{parse, read_body, share_link, v2ray_body};
use xray::singbox::Class;
use xray::Connection;

/// What a link says about where and as whom to connect: a rendered link must keep all of it.
/// (Options the link form writes only where they apply, such as `flow` without TLS or an empty
/// `sid`, may go: the second round checks that rendering is then stable.)
fn identity(c: &Connection) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        c.protocol,
        c.address.as_str(),
        c.port,
        c.secret.as_str(),
        c.name.as_str(),
        c.network,
        c.security,
        c.ss_method.as_deref(),
        c.ss_server_key.as_deref(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(first) = parse(text) else {
        return;
    };
    let link = share_link(&first);
    let second = match parse(&link) {
        Ok(c) => c,
        Err(e) => panic!(
            "{text:?} parsed, but its rendering {link:?} does not: {}",
            e.0
        ),
    };
    assert_eq!(identity(&first), identity(&second), "{text:?} → {link:?}");
    assert_eq!(
        share_link(&second),
        link,
        "rendering is not stable for {text:?}"
    );

    // A subscription of it reads back to the same link (the external-source path).
    let read = read_body(v2ray_body(std::slice::from_ref(&first)).as_bytes(), 10);
    assert_eq!(read.links, vec![link.clone()], "{text:?}");

    // The other formats: valid documents with this connection in them, whatever its strings.
    let outbound = xray::outbound::outbound(&first);
    assert!(outbound.is_object(), "{text:?}: outbound {outbound}");
    let clash = xray::clash::config(std::slice::from_ref(&first));
    let doc: yaml_serde::Value = match yaml_serde::from_str(&clash) {
        Ok(doc) => doc,
        Err(e) => panic!("{text:?}: the Clash config is not YAML ({e}):\n{clash}"),
    };
    if let Some(proxy) = doc["proxies"].as_sequence().and_then(|p| p.first()) {
        assert_eq!(proxy["name"].as_str(), Some(first.name.as_str()), "{clash}");
        assert_eq!(
            proxy["server"].as_str(),
            Some(first.address.as_str()),
            "{clash}"
        );
    }
    for class in [Class::V1_8, Class::V1_10, Class::V1_11, Class::V1_12] {
        let config = xray::singbox::config(std::slice::from_ref(&first), class);
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&config) {
            panic!("{text:?}: the sing-box config is not JSON ({e}):\n{config}");
        }
    }
});
