//! The usage report a node agent sends (`POST /node/usage`, docs/node-protocol.md): the body,
//! its checks, and the per-link sums the `nodes` component stores in `usage_inbox`. Pure, so it
//! is unit-tested and fuzzed natively (`fuzz/`); the component does the storing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// Most entries one report may carry.
pub const MAX_ENTRIES: usize = 10_000;

/// Most bytes one link may count in one report (each of up and down): a petabyte, far past what
/// any link moves between two reports. The bound keeps the counting statements' sums
/// (`up + down`, used + reported) inside BIGINT, whatever a broken or hostile node sends.
pub const MAX_REPORTED_BYTES: u64 = 1_000_000_000_000_000;

pub const HOUR_MS: i64 = 3_600_000;

/// Most bytes of a report id, trimmed.
pub const REPORT_ID_MAX: usize = 100;
/// A report id the checks take, for JSON Schemas: 1 to [`REPORT_ID_MAX`] printable ASCII
/// characters, blanks around them trimmed (the length counts what is left, so it is in the
/// pattern). The check takes any printable text of that many bytes; a schema counts
/// characters, so it says ASCII, where characters are bytes.
pub const REPORT_ID_PATTERN: &str = "^[ \\t\\n\\r]*[!-~]([ -~]{0,98}[!-~])?[ \\t\\n\\r]*$";

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientUsage {
    /// The client's name in the node's config: a link id.
    pub name: String,
    #[schemars(range(max = MAX_REPORTED_BYTES))]
    pub up: u64,
    #[schemars(range(max = MAX_REPORTED_BYTES))]
    pub down: u64,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageBody {
    /// Makes the report idempotent: a report id the node sent before is a duplicate.
    #[schemars(regex(pattern = REPORT_ID_PATTERN))]
    pub report_id: String,
    /// Epoch milliseconds; absent: now.
    pub collected_at: Option<i64>,
    /// A name may repeat: its entries add up (within [`MAX_REPORTED_BYTES`] per report).
    #[schemars(length(max = MAX_ENTRIES))]
    pub clients: Vec<ClientUsage>,
}

/// A field of a report that is refused, and why (a 400 naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A report's id, trimmed: 1 to 100 printable characters.
pub fn report_id(raw: &str) -> Result<&str, Invalid> {
    let id = raw.trim();
    if id.is_empty() || id.len() > REPORT_ID_MAX || id.chars().any(char::is_control) {
        return Err(invalid("reportId", "must be 1 to 100 printable characters"));
    }
    Ok(id)
}

/// A reported byte count, within [`MAX_REPORTED_BYTES`].
pub fn bytes(field: &str, value: u64) -> Result<i64, Invalid> {
    if value > MAX_REPORTED_BYTES {
        return Err(invalid(
            field,
            format!("is larger than {MAX_REPORTED_BYTES} bytes, more than one report can count"),
        ));
    }
    i64::try_from(value).map_err(|_| invalid(field, "is out of range"))
}

/// Adds one entry's bytes (`entry` names it in an error, e.g. `clients[3]`) to the sums of
/// its `name`. Each sum stays within [`MAX_REPORTED_BYTES`] too, or a name repeated in one
/// report would carry what the bound refuses in one entry.
pub fn add_bytes(
    sums: &mut (i64, i64),
    entry: &str,
    name: &str,
    up: u64,
    down: u64,
) -> Result<(), Invalid> {
    let up = bytes(&format!("{entry}.up"), up)?;
    let down = bytes(&format!("{entry}.down"), down)?;
    // Both at most a petabyte: the sums cannot overflow before the check.
    sums.0 += up;
    sums.1 += down;
    for (side, sum) in [("up", sums.0), ("down", sums.1)] {
        if sum > MAX_REPORTED_BYTES as i64 {
            return Err(invalid(
                format!("{entry}.{side}"),
                format!("brings `{name}` past {MAX_REPORTED_BYTES} bytes in one report"),
            ));
        }
    }
    Ok(())
}

/// What a checked report counts: its id and, per link name (each once, in name order), the
/// bytes up and down — only links that moved any.
#[derive(Debug, PartialEq, Eq)]
pub struct Counted<'a> {
    pub report_id: &'a str,
    pub entries: Vec<(&'a str, i64, i64)>,
}

impl UsageBody {
    /// Checks the report and adds up entries of the same name (a report may repeat one). Each
    /// link's sums stay within [`MAX_REPORTED_BYTES`] too, or a name repeated would carry what
    /// the bound refuses in one entry.
    pub fn count(&self) -> Result<Counted<'_>, Invalid> {
        let report_id = report_id(&self.report_id)?;
        if self.clients.len() > MAX_ENTRIES {
            return Err(invalid(
                "clients",
                format!("at most {MAX_ENTRIES} per report; send the rest in another"),
            ));
        }
        let mut per_link: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (i, c) in self.clients.iter().enumerate() {
            let sums = per_link.entry(c.name.as_str()).or_default();
            add_bytes(sums, &format!("clients[{i}]"), &c.name, c.up, c.down)?;
        }
        let entries = per_link
            .into_iter()
            .filter(|(_, (up, down))| up + down > 0)
            .map(|(name, (up, down))| (name, up, down))
            .collect();
        Ok(Counted { report_id, entries })
    }
}

/// The hour a report counts in: when it was collected (now if it does not say), never before
/// 1970 nor more than an hour ahead of `now`, floored to the hour.
pub fn hour(collected_at: Option<i64>, now: i64) -> i64 {
    collected_at
        .unwrap_or(now)
        .clamp(0, now.saturating_add(HOUR_MS))
        / HOUR_MS
        * HOUR_MS
}

#[cfg(test)]
mod tests {

    /// What `/node/outbound-usage` adds per tag: a tag repeated in one report may not sum past
    /// the bound one entry may carry; the refusal names the entry that crossed it.
    #[test]
    fn sums_of_a_repeated_name_stay_within_the_bound() {
        let mut sums = (0, 0);
        add_bytes(&mut sums, "outbounds[0]", "direct", MAX_REPORTED_BYTES, 5)
            .expect("at the bound");
        let e = add_bytes(&mut sums, "outbounds[1]", "direct", 1, 0).expect_err("past it");
        assert_eq!(e.field, "outbounds[1].up");
        assert!(e.message.contains("`direct`"), "{}", e.message);
        assert_eq!(sums.1, 5);
    }

    use super::*;

    fn body(clients: &[(&str, u64, u64)]) -> UsageBody {
        UsageBody {
            report_id: " r1 ".into(),
            collected_at: None,
            clients: clients
                .iter()
                .map(|(name, up, down)| ClientUsage {
                    name: name.to_string(),
                    up: *up,
                    down: *down,
                })
                .collect(),
        }
    }

    #[test]
    fn entries_of_a_name_add_up_and_idle_links_drop() {
        let b = body(&[("b", 1, 2), ("a", 0, 0), ("b", 10, 20), ("c", 0, 5)]);
        let counted = b.count().unwrap();
        assert_eq!(counted.report_id, "r1");
        assert_eq!(counted.entries, vec![("b", 11, 22), ("c", 0, 5)]);
    }

    #[test]
    fn one_entry_past_the_bound_is_refused() {
        let err = body(&[("a", MAX_REPORTED_BYTES + 1, 0)])
            .count()
            .unwrap_err();
        assert_eq!(err.field, "clients[0].up");
        assert!(body(&[("a", MAX_REPORTED_BYTES, MAX_REPORTED_BYTES)])
            .count()
            .is_ok());
    }

    /// A name repeated used to add up past the bound (saturating at i64::MAX, and `up + down`
    /// then overflowed): the counting statements would have left BIGINT.
    #[test]
    fn a_name_repeated_past_the_bound_is_refused() {
        let err = body(&[("a", 0, MAX_REPORTED_BYTES), ("a", 0, 1)])
            .count()
            .unwrap_err();
        assert_eq!(err.field, "clients[1].down");
        assert!(err.message.contains("`a`"), "{err}");
        let many: Vec<(&str, u64, u64)> = (0..10_000)
            .map(|_| ("a", MAX_REPORTED_BYTES, MAX_REPORTED_BYTES))
            .collect();
        assert!(body(&many).count().is_err());
    }

    #[test]
    fn report_ids_and_sizes() {
        let mut b = body(&[]);
        b.report_id = "  ".into();
        assert_eq!(b.count().unwrap_err().field, "reportId");
        b.report_id = "a\u{7}".into();
        assert_eq!(b.count().unwrap_err().field, "reportId");
        let many: Vec<(&str, u64, u64)> = (0..=MAX_ENTRIES).map(|_| ("a", 0, 0)).collect();
        assert_eq!(body(&many).count().unwrap_err().field, "clients");
    }

    #[test]
    fn hours_are_floored_and_bounded() {
        let now = 1_800_000_000_000;
        assert_eq!(hour(None, now), now / HOUR_MS * HOUR_MS);
        assert_eq!(hour(Some(-5), now), 0);
        assert_eq!(
            hour(Some(i64::MAX), now),
            (now + HOUR_MS) / HOUR_MS * HOUR_MS
        );
        assert_eq!(hour(Some(HOUR_MS + 1), now), HOUR_MS);
    }

    #[test]
    fn the_body_is_read_as_agents_send_it() {
        let b: UsageBody = serde_json::from_str(
            r#"{"reportId":"x","collectedAt":7200000,"clients":[{"name":"l","up":1,"down":2}]}"#,
        )
        .unwrap();
        assert_eq!(b.collected_at, Some(7_200_000));
        assert_eq!(b.count().unwrap().entries, vec![("l", 1, 2)]);
    }

    /// The schema states the checks' bounds: entries, bytes, the report id.
    #[test]
    fn schema_states_the_bounds() {
        let schema = schemars::SchemaGenerator::default()
            .into_root_schema_for::<UsageBody>()
            .to_value();
        assert_eq!(
            schema["required"],
            serde_json::json!(["reportId", "clients"])
        );
        assert_eq!(schema["properties"]["clients"]["maxItems"], MAX_ENTRIES);
        assert_eq!(
            schema["properties"]["reportId"]["pattern"],
            REPORT_ID_PATTERN
        );
        let client = schemars::SchemaGenerator::default()
            .into_root_schema_for::<ClientUsage>()
            .to_value();
        assert_eq!(client["properties"]["up"]["maximum"], MAX_REPORTED_BYTES);
        assert_eq!(client["properties"]["down"]["minimum"], 0);
        // The pattern's ids pass the check; a blank one fails both.
        let re = regex_lite::Regex::new(REPORT_ID_PATTERN).expect("pattern");
        for (raw, ok) in [
            (" r-1 ", true),
            ("   ", false),
            ("x".repeat(100).as_str(), true),
        ] {
            assert_eq!(re.is_match(raw), ok);
            assert_eq!(report_id(raw).is_ok(), ok, "{raw:?}");
        }
    }
}
