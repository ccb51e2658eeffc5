//! The format rules (`format_rules`): which format and sing-box form a request gets from its
//! headers. The input is a User-Agent for the default rules, and when it is JSON
//! `{"rules": [...], "headers": {...}}` also an operator's rules (kept only if they pass the
//! checks `PUT /admin/subscription-rules` makes) and the request's headers.
#![no_main]

use std::collections::BTreeMap;

use format_rules::{defaults, headers, pick, singbox_class, Format, Op, Rule};
use libfuzzer_sys::fuzz_target;

fn pick_with(rules: &[Rule], values: &BTreeMap<String, String>) -> Option<Format> {
    pick(rules, |h| values.get(h).cloned())
}

fn with_op(rule: &Rule, op: Op) -> Rule {
    Rule { op, ..rule.clone() }
}

/// What holds for one rule and one header value.
fn rule_properties(rule: &Rule, value: &str) {
    let matched = rule.matches(value);
    assert_eq!(rule.matches(value), matched, "not deterministic");
    if !rule.case_sensitive {
        assert_eq!(
            rule.matches(&value.to_ascii_uppercase()),
            matched,
            "{rule:?} on {value:?}: ASCII case changed the answer"
        );
    }
    if rule.op != Op::Regex {
        // Equals ⇒ Prefix ⇒ Contains, over the same values.
        let (eq, pre, con) = (
            with_op(rule, Op::Equals).matches(value),
            with_op(rule, Op::Prefix).matches(value),
            with_op(rule, Op::Contains).matches(value),
        );
        assert!(!eq || pre, "{rule:?} on {value:?}: equal but not a prefix");
        assert!(
            !pre || con,
            "{rule:?} on {value:?}: a prefix but not contained"
        );
        // A value is found wherever it stands.
        for v in &rule.values {
            let around = format!("{value}{v}{value}");
            assert!(
                with_op(rule, Op::Contains).matches(&around),
                "{rule:?}: {v:?} not found in {around:?}"
            );
            assert!(
                with_op(rule, Op::Prefix).matches(&format!("{v}{value}")),
                "{rule:?}: {v:?} is not a prefix of itself followed by {value:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ua = text.as_ref();
    let upper = ua.to_ascii_uppercase();

    // The defaults read User-Agent without regard to case; so does the sing-box form.
    let only_ua = |agent: &str| BTreeMap::from([("user-agent".to_string(), agent.to_string())]);
    let picked = pick_with(&defaults(), &only_ua(ua));
    assert_eq!(pick_with(&defaults(), &only_ua(&upper)), picked, "{ua:?}");
    assert_eq!(
        singbox_class(Some(ua)),
        singbox_class(Some(&upper)),
        "{ua:?}"
    );
    let browser = BTreeMap::from([
        ("user-agent".to_string(), ua.to_string()),
        ("accept".to_string(), ua.to_string()),
    ]);
    assert_eq!(
        pick_with(&defaults(), &browser),
        pick_with(&defaults(), &browser)
    );
    for rule in defaults() {
        rule_properties(&rule, ua);
    }

    // A format named in the address: its canonical name names it again, in any case.
    if let Some(format) = Format::parse(ua) {
        assert_eq!(Format::parse(&upper), Some(format));
        let canonical = serde_json::to_value(format).ok();
        let name = canonical
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert_eq!(Format::parse(name), Some(format), "{name}");
    }

    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(mut rules) = serde_json::from_value::<Vec<Rule>>(doc["rules"].clone()) else {
        return;
    };
    // As the PUT stores them: header names lowercased, only rules that pass the checks.
    for r in &mut rules {
        r.header = r.header.trim().to_ascii_lowercase();
    }
    let rules: Vec<Rule> = (0..rules.len())
        .filter(|&i| rules[i].check(i).is_ok())
        .map(|i| rules[i].clone())
        .collect();
    let values: BTreeMap<String, String> = doc["headers"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let picked = pick_with(&rules, &values);
    assert_eq!(pick_with(&rules, &values), picked, "not deterministic");
    let read = headers(&rules);
    for r in &rules {
        assert_eq!(
            read.iter().filter(|h| **h == r.header).count(),
            1,
            "{read:?}"
        );
    }
    // No header the rules read: nothing matches.
    assert_eq!(pick_with(&rules, &BTreeMap::new()), None);
    for r in &rules {
        rule_properties(r, values.get(&r.header).map_or(ua, String::as_str));
    }
});
