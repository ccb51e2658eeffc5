//! What a mode asks the node to run: a layout (inbounds, outbounds, routing) and who goes into
//! which inbound. Push mode puts every user into every inbound; pull mode gives each inbound
//! tag its own client list. Both resolve to [`Clients`], which the node diffs per inbound into
//! live AlterInbound calls.

use std::collections::BTreeMap;

use crate::proxy::{Flavor, Inbound, Layout};

/// name → key of the clients of one inbound.
pub type ClientList = BTreeMap<String, String>;

/// Clients per inbound tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clients(pub BTreeMap<String, ClientList>);

impl Clients {
    /// Distinct client names over all inbounds.
    pub fn names(&self) -> std::collections::BTreeSet<&str> {
        self.0
            .values()
            .flat_map(|list| list.keys().map(String::as_str))
            .collect()
    }

    pub fn insert(&mut self, tag: &str, name: &str, key: &str) {
        self.0
            .entry(tag.to_owned())
            .or_default()
            .insert(name.to_owned(), key.to_owned());
    }

    pub fn remove(&mut self, tag: &str, name: &str) {
        if let Some(list) = self.0.get_mut(tag) {
            list.remove(name);
            if list.is_empty() {
                self.0.remove(tag);
            }
        }
    }

    fn get(&self, tag: &str, name: &str) -> Option<&String> {
        self.0.get(tag).and_then(|list| list.get(name))
    }
}

/// Who goes into which inbound, as a mode says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// Push mode: every user (name → key) into every inbound that takes users.
    Everywhere(ClientList),
    /// Pull mode: each inbound tag its own clients.
    PerInbound(Clients),
}

impl Default for Assignment {
    fn default() -> Assignment {
        Assignment::Everywhere(ClientList::new())
    }
}

impl Assignment {
    /// The clients each inbound of `inbounds` gets on this core. Inbounds that take no users
    /// get none; clients of tags the layout lacks are dropped (with a log line).
    pub fn resolve(&self, inbounds: &[Inbound], flavor: Flavor) -> Clients {
        let mut out = BTreeMap::new();
        match self {
            Assignment::Everywhere(users) => {
                for inbound in inbounds {
                    match inbound.takes_users(flavor) {
                        Ok(()) => {
                            out.insert(inbound.tag.clone(), users.clone());
                        }
                        Err(why) if !users.is_empty() => {
                            tracing::debug!(tag = %inbound.tag, why, "inbound skipped");
                        }
                        Err(_) => {}
                    }
                }
            }
            Assignment::PerInbound(clients) => {
                for (tag, list) in &clients.0 {
                    match inbounds.iter().find(|i| &i.tag == tag) {
                        None => tracing::warn!(
                            tag = %tag,
                            clients = list.len(),
                            "clients for an inbound the config lacks; skipped"
                        ),
                        Some(inbound) => match inbound.takes_users(flavor) {
                            Ok(()) if !list.is_empty() => {
                                out.insert(tag.clone(), list.clone());
                            }
                            Ok(()) => {}
                            Err(why) => tracing::warn!(
                                tag = %tag,
                                clients = list.len(),
                                why,
                                "clients for an inbound that takes none on this core; skipped"
                            ),
                        },
                    }
                }
            }
        }
        Clients(out)
    }

    /// Every client name the assignment holds.
    pub fn names(&self) -> Vec<String> {
        match self {
            Assignment::Everywhere(users) => users.keys().cloned().collect(),
            Assignment::PerInbound(clients) => {
                clients.names().into_iter().map(str::to_owned).collect()
            }
        }
    }
}

/// A complete desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub layout: Layout,
    pub assignment: Assignment,
}

/// The AlterInbound calls that take a core from one client set to another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientDiff {
    /// (tag, name): gone, or its key changed (removed first, then added again).
    pub remove: Vec<(String, String)>,
    /// (tag, name, key).
    pub add: Vec<(String, String, String)>,
}

impl ClientDiff {
    /// Only what changed, inbound by inbound.
    pub fn between(current: &Clients, desired: &Clients) -> ClientDiff {
        let mut diff = ClientDiff::default();
        for (tag, list) in &current.0 {
            for (name, key) in list {
                if desired.get(tag, name) != Some(key) {
                    diff.remove.push((tag.clone(), name.clone()));
                }
            }
        }
        for (tag, list) in &desired.0 {
            for (name, key) in list {
                if current.get(tag, name) != Some(key) {
                    diff.add.push((tag.clone(), name.clone(), key.clone()));
                }
            }
        }
        diff
    }

    /// As [`ClientDiff::between`], but every desired client is added again (idempotent in
    /// the core), for a resync.
    pub fn everything(current: &Clients, desired: &Clients) -> ClientDiff {
        let mut diff = ClientDiff::between(current, desired);
        diff.add = desired
            .0
            .iter()
            .flat_map(|(tag, list)| {
                list.iter()
                    .map(move |(name, key)| (tag.clone(), name.clone(), key.clone()))
            })
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::inbound;

    fn clients(entries: &[(&str, &str, &str)]) -> Clients {
        let mut c = Clients::default();
        for (tag, name, key) in entries {
            c.insert(tag, name, key);
        }
        c
    }

    fn inbounds() -> Vec<Inbound> {
        inbound::parse(
            r#"[{"tag":"vless","protocol":"vless","port":1},
                {"tag":"trojan","protocol":"trojan","port":2},
                {"tag":"ss","protocol":"shadowsocks","port":3,"settings":{"method":"aes-128-gcm"}},
                {"tag":"socks","protocol":"socks","port":4}]"#,
        )
        .unwrap()
    }

    #[test]
    fn diff_is_per_inbound() {
        let current = clients(&[
            ("vless", "a", "ka"),
            ("vless", "b", "kb"),
            ("trojan", "a", "ka"),
        ]);
        // a leaves vless but stays in trojan; b's key changes; c joins trojan only.
        let desired = clients(&[
            ("vless", "b", "kb2"),
            ("trojan", "a", "ka"),
            ("trojan", "c", "kc"),
        ]);
        let diff = ClientDiff::between(&current, &desired);
        assert_eq!(
            diff.remove,
            vec![
                ("vless".to_string(), "a".to_string()),
                ("vless".to_string(), "b".to_string())
            ]
        );
        assert_eq!(
            diff.add,
            vec![
                ("trojan".to_string(), "c".to_string(), "kc".to_string()),
                ("vless".to_string(), "b".to_string(), "kb2".to_string())
            ]
        );
        assert!(ClientDiff::between(&desired, &desired).is_empty());
    }

    #[test]
    fn everything_adds_all_again_and_still_removes() {
        let current = clients(&[("vless", "a", "ka"), ("vless", "gone", "kg")]);
        let desired = clients(&[("vless", "a", "ka"), ("trojan", "b", "kb")]);
        let diff = ClientDiff::everything(&current, &desired);
        assert_eq!(diff.remove, vec![("vless".to_string(), "gone".to_string())]);
        assert_eq!(diff.add.len(), 2);
    }

    #[test]
    fn everywhere_fills_inbounds_that_take_users() {
        let users: ClientList = [("a".to_string(), "ka".to_string())].into();
        let resolved = Assignment::Everywhere(users.clone()).resolve(&inbounds(), Flavor::V2ray);
        assert_eq!(
            resolved.0.keys().collect::<Vec<_>>(),
            ["trojan", "vless"],
            "v2ray's Shadowsocks and socks take no users"
        );
        let on_xray = Assignment::Everywhere(users).resolve(&inbounds(), Flavor::Xray);
        assert!(on_xray.0.contains_key("ss"));
    }

    #[test]
    fn per_inbound_keeps_each_list_and_drops_unknown_tags() {
        let given = clients(&[
            ("vless", "a", "ka"),
            ("trojan", "b", "kb"),
            ("socks", "c", "kc"),
            ("nowhere", "d", "kd"),
        ]);
        let resolved = Assignment::PerInbound(given).resolve(&inbounds(), Flavor::V2ray);
        assert_eq!(
            resolved,
            clients(&[("vless", "a", "ka"), ("trojan", "b", "kb")])
        );
        assert_eq!(resolved.names().into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn removing_the_last_client_drops_the_tag() {
        let mut c = clients(&[("vless", "a", "ka")]);
        c.remove("vless", "a");
        assert_eq!(c, Clients::default());
    }
}
