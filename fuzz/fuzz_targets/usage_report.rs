//! The usage report node agents send (`POST /node/usage`, `usage_report`): a report that is
//! taken counts exactly what it says — per link, within the bound, nothing lost or made up —
//! and its entries read back from the inbox as written.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use usage_report::{hour, UsageBody, HOUR_MS, MAX_REPORTED_BYTES};

/// Any instant will do; one of this era.
const NOW: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<UsageBody>(data) else {
        return;
    };
    let h = hour(body.collected_at, NOW);
    assert_eq!(h % HOUR_MS, 0);
    assert!((0..=NOW + HOUR_MS).contains(&h), "{h}");

    let counted = match body.count() {
        Ok(counted) => counted,
        Err(e) => {
            assert!(
                e.field == "reportId" || e.field == "clients" || e.field.starts_with("clients["),
                "{e}"
            );
            return;
        }
    };
    assert_eq!(counted.report_id, body.report_id.trim());

    // What the clients say, per name (u128: no sum can overflow).
    let mut said: BTreeMap<&str, (u128, u128)> = BTreeMap::new();
    for c in &body.clients {
        assert!(c.up <= MAX_REPORTED_BYTES && c.down <= MAX_REPORTED_BYTES);
        let slot = said.entry(c.name.as_str()).or_default();
        slot.0 += u128::from(c.up);
        slot.1 += u128::from(c.down);
    }
    said.retain(|_, (up, down)| *up + *down > 0);
    let counted_map: BTreeMap<&str, (u128, u128)> = counted
        .entries
        .iter()
        .map(|(name, up, down)| {
            let bound = MAX_REPORTED_BYTES as i64;
            assert!(
                (0..=bound).contains(up) && (0..=bound).contains(down),
                "{name}: {up} {down}"
            );
            assert!(up + down > 0);
            (*name, (*up as u128, *down as u128))
        })
        .collect();
    assert_eq!(
        counted_map.len(),
        counted.entries.len(),
        "a link counted twice"
    );
    assert_eq!(counted_map, said);
    assert!(
        counted.entries.windows(2).all(|w| w[0].0 < w[1].0),
        "not in name order"
    );

    // The inbox row (`usage_inbox.entries`) is read back by the counting job as written.
    let json = serde_json::to_string(&counted.entries).expect("entries serialize");
    let back: Vec<(String, i64, i64)> = serde_json::from_str(&json).expect("entries read back");
    let back: Vec<(&str, i64, i64)> = back.iter().map(|(n, u, d)| (n.as_str(), *u, *d)).collect();
    assert_eq!(back, counted.entries);
});
