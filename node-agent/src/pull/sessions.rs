//! Client sessions derived from traffic: a client whose counters moved in a poll is online; one
//! whose counters stayed still for [`IDLE_POLLS`] polls in a row is offline again.

use std::collections::{BTreeMap, BTreeSet};

use super::protocol::SessionEvent;

/// Polls without traffic after which an online client counts as offline.
pub const IDLE_POLLS: u32 = 3;

/// Which clients are online, and for how many polls each has been idle.
#[derive(Default)]
pub struct Sessions {
    idle: BTreeMap<String, u32>,
}

impl Sessions {
    /// Takes one poll's moved names (at unix ms `at`) and returns the events it causes.
    pub fn observe(&mut self, moved: &BTreeSet<String>, at: u64) -> Vec<SessionEvent> {
        let mut events = Vec::new();
        for name in moved {
            if self.idle.insert(name.clone(), 0).is_none() {
                events.push(SessionEvent {
                    name: name.clone(),
                    kind: "online",
                    at,
                });
            }
        }
        self.idle.retain(|name, idle| {
            if moved.contains(name) {
                return true;
            }
            *idle += 1;
            if *idle >= IDLE_POLLS {
                events.push(SessionEvent {
                    name: name.clone(),
                    kind: "offline",
                    at,
                });
                return false;
            }
            true
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn kinds(events: &[SessionEvent]) -> Vec<(String, &'static str)> {
        events.iter().map(|e| (e.name.clone(), e.kind)).collect()
    }

    #[test]
    fn online_on_traffic_offline_after_three_idle_polls() {
        let mut s = Sessions::default();
        assert_eq!(
            kinds(&s.observe(&moved(&["a"]), 1)),
            [("a".into(), "online")]
        );
        // Still moving: no new event.
        assert!(s.observe(&moved(&["a"]), 2).is_empty());
        // Two idle polls, then traffic again: the idle count starts over.
        assert!(s.observe(&moved(&[]), 3).is_empty());
        assert!(s.observe(&moved(&[]), 4).is_empty());
        assert!(
            s.observe(&moved(&["a", "b"]), 5).len() == 1,
            "only b comes online"
        );
        assert!(s.observe(&moved(&["b"]), 6).is_empty());
        assert!(s.observe(&moved(&["b"]), 7).is_empty());
        let events = s.observe(&moved(&["b"]), 8);
        assert_eq!(kinds(&events), [("a".into(), "offline")]);
        assert_eq!(events[0].at, 8);
        // Back again after going offline.
        assert_eq!(
            kinds(&s.observe(&moved(&["a"]), 9)),
            [("a".into(), "online")]
        );
    }
}
