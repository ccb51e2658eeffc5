//! The operator's inbounds file: a JSON array of inbound objects in the core's own shape.

use std::path::Path;

use serde_json::Value;

use super::Flavor;

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("cannot read inbounds file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("inbounds file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("inbounds file: {0}")]
    Shape(String),
}

/// The protocols the agent puts users into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    Vless,
    Vmess,
    Trojan,
    Shadowsocks,
    /// Anything else (socks, http, dokodemo-door…): passed through, no users.
    Other(String),
}

/// One inbound from the file, with what the agent needs to add users to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    pub tag: String,
    pub protocol: Protocol,
    /// VLESS `settings.flow`: over the API the core applies no default, so users carry it.
    pub flow: String,
    /// Shadowsocks `settings.method`.
    pub method: String,
    /// The object as written to the core config (client list emptied).
    pub raw: Value,
}

impl Inbound {
    /// Whether users go into this inbound on this core, or why not.
    pub fn takes_users(&self, flavor: Flavor) -> Result<(), &'static str> {
        match &self.protocol {
            Protocol::Vless | Protocol::Vmess | Protocol::Trojan => Ok(()),
            Protocol::Shadowsocks if flavor.shadowsocks_multi_user() => Ok(()),
            Protocol::Shadowsocks => {
                Err("this core's Shadowsocks inbounds hold one user; users are not added here")
            }
            Protocol::Other(_) => Err("protocol without users"),
        }
    }
}

/// Reads and checks the inbounds file.
pub fn load(path: &Path) -> Result<Vec<Inbound>, InboundError> {
    let text = std::fs::read_to_string(path).map_err(|source| InboundError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// Parses an inbounds array. Tags must be present and unique, and `api` is the agent's own.
pub fn parse(text: &str) -> Result<Vec<Inbound>, InboundError> {
    let value: Value = serde_json::from_str(text)?;
    let Value::Array(items) = value else {
        return Err(InboundError::Shape(
            "expected a JSON array of inbounds".into(),
        ));
    };
    let mut out: Vec<Inbound> = Vec::with_capacity(items.len());
    for (i, mut raw) in items.into_iter().enumerate() {
        let obj = raw
            .as_object_mut()
            .ok_or_else(|| InboundError::Shape(format!("inbound #{i} is not an object")))?;
        let tag = match obj.get("tag").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => return Err(InboundError::Shape(format!("inbound #{i} has no `tag`"))),
        };
        if tag == "api" {
            return Err(InboundError::Shape(
                "the tag `api` belongs to the agent's own API inbound".into(),
            ));
        }
        if out.iter().any(|o| o.tag == tag) {
            return Err(InboundError::Shape(format!(
                "duplicate inbound tag `{tag}`"
            )));
        }
        let protocol = match obj.get("protocol").and_then(Value::as_str) {
            Some("vless") => Protocol::Vless,
            Some("vmess") => Protocol::Vmess,
            Some("trojan") => Protocol::Trojan,
            Some("shadowsocks") => Protocol::Shadowsocks,
            Some(other) => Protocol::Other(other.to_owned()),
            None => {
                return Err(InboundError::Shape(format!(
                    "inbound `{tag}` has no `protocol`"
                )))
            }
        };
        let settings = obj
            .entry("settings")
            .or_insert_with(|| Value::Object(Default::default()));
        let settings = settings.as_object_mut().ok_or_else(|| {
            InboundError::Shape(format!("inbound `{tag}`: `settings` is not an object"))
        })?;
        let text_of = |key: &str| {
            settings
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let flow = text_of("flow");
        let method = text_of("method");
        // Users come only through the API, so the config starts with an empty list.
        if matches!(
            protocol,
            Protocol::Vless | Protocol::Vmess | Protocol::Trojan
        ) {
            settings.insert("clients".into(), Value::Array(Vec::new()));
        }
        if protocol == Protocol::Vless && !settings.contains_key("decryption") {
            settings.insert("decryption".into(), Value::String("none".into()));
        }
        out.push(Inbound {
            tag,
            protocol,
            flow,
            method,
            raw,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_empties_clients() {
        let inbounds = parse(
            r#"[{"tag":"v","protocol":"vless","port":1,"settings":{"clients":[{"id":"x"}],"flow":"xtls-rprx-vision"}},
                {"tag":"s","protocol":"socks","port":2}]"#,
        )
        .unwrap();
        assert_eq!(inbounds[0].protocol, Protocol::Vless);
        assert_eq!(inbounds[0].flow, "xtls-rprx-vision");
        assert_eq!(
            inbounds[0].raw["settings"]["clients"],
            serde_json::json!([])
        );
        assert_eq!(inbounds[0].raw["settings"]["decryption"], "none");
        assert_eq!(inbounds[1].protocol, Protocol::Other("socks".into()));
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(parse("{}").is_err());
        assert!(parse(r#"[{"protocol":"vless"}]"#).is_err());
        assert!(parse(r#"[{"tag":"api","protocol":"vless"}]"#).is_err());
        assert!(
            parse(r#"[{"tag":"a","protocol":"vless"},{"tag":"a","protocol":"vmess"}]"#).is_err()
        );
    }
}
