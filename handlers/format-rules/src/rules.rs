//! Which format a client gets: an ordered, operator-editable list of rules on request headers
//! (`GET/PUT /admin/subscription-rules`), seeded with the union of Marzban's and Remnawave's
//! defaults. The first rule that matches wins; no match is v2ray.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::format::Format;

/// Values one rule may list at most.
pub const MAX_VALUES: usize = 50;
/// Longest rule name and value, in characters (as JSON Schema counts them).
pub const NAME_MAX: usize = 100;
pub const VALUE_MAX: usize = 500;

/// What is wrong with an operator's rule: the field (`rules[i].values`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn invalid(field: String, message: impl Into<String>) -> RuleError {
    RuleError {
        field,
        message: message.into(),
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The header starts with one of the values.
    Prefix,
    /// The header contains one of the values.
    Contains,
    Equals,
    /// The header matches one of the values as a regular expression.
    Regex,
}

/// One rule (its JSON Schema is derived from this type).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    #[schemars(length(min = 1, max = NAME_MAX))]
    pub name: String,
    /// Request header, e.g. `user-agent` (any case; kept in lower case).
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]+$"))]
    pub header: String,
    #[serde(rename = "match")]
    pub op: Op,
    /// Any of these matches.
    #[schemars(length(min = 1, max = MAX_VALUES), inner(length(min = 1, max = VALUE_MAX)))]
    pub values: Vec<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    pub format: Format,
}

fn rule(name: &str, op: Op, values: &[&str], format: Format) -> Rule {
    Rule {
        name: name.into(),
        header: "user-agent".into(),
        op,
        values: values.iter().map(|v| v.to_string()).collect(),
        case_sensitive: false,
        format,
    }
}

/// Marzban's and Remnawave's default rules together, as prefixes where they are prefixes.
pub fn defaults() -> Vec<Rule> {
    vec![
        // Remnawave's first rule: a browser asks for HTML (clients never do).
        Rule {
            name: "Browsers".into(),
            header: "accept".into(),
            op: Op::Contains,
            values: vec!["text/html".into()],
            case_sensitive: true,
            format: Format::Browser,
        },
        rule(
            "Clash.Meta / mihomo clients",
            Op::Prefix,
            &[
                "clash-verge",
                "clash-nyanpasu",
                "clash.meta",
                "clash-meta",
                "clashmeta",
                "clash meta",
                "clashx meta",
                "flclash",
                "flowvy",
                "murge",
                "mihomo",
                "prizrak-box",
                "koala-clash",
            ],
            Format::Clash,
        ),
        rule("Stash", Op::Prefix, &["stash"], Format::Clash),
        rule(
            "sing-box clients",
            Op::Prefix,
            &[
                "sfa", "sfi", "sfm", "sft", "karing",
                // Hiddify reads sing-box: `HiddifyNext/…` (and `HiddifyNextX/…`).
                "hiddify",
            ],
            Format::Singbox,
        ),
        rule(
            "sing-box anywhere in the name",
            Op::Contains,
            &["sing-box", "singbox"],
            Format::Singbox,
        ),
        rule("Other Clash clients", Op::Prefix, &["clash"], Format::Clash),
    ]
}

impl Rule {
    /// Whether a header's value matches (a regular expression that does not compile matches
    /// nothing: stored rules were checked, but the defaults of a newer version may not be).
    pub fn matches(&self, value: &str) -> bool {
        // Per character, with ς as σ (as Unicode case folding has it): `str::to_lowercase`
        // writes a word-final Σ as ς, so a value would not be found where a letter follows it.
        let fold = |s: &str| -> String {
            if self.case_sensitive {
                s.to_string()
            } else {
                s.chars()
                    .flat_map(char::to_lowercase)
                    .map(|c| if c == 'ς' { 'σ' } else { c })
                    .collect()
            }
        };
        let value = fold(value);
        self.values.iter().any(|v| match self.op {
            Op::Prefix => value.starts_with(&fold(v)),
            Op::Contains => value.contains(&fold(v)),
            Op::Equals => value == fold(v),
            Op::Regex => regex_lite::RegexBuilder::new(v)
                .case_insensitive(!self.case_sensitive)
                .build()
                .map(|re| re.is_match(&value))
                .unwrap_or(false),
        })
    }

    /// Checks the rule at position `i` of an operator's list.
    pub fn check(&self, i: usize) -> Result<(), RuleError> {
        let field = format!("rules[{i}]");
        if self.name.trim().is_empty() || self.name.chars().count() > NAME_MAX {
            return Err(invalid(
                format!("{field}.name"),
                format!("must be 1 to {NAME_MAX} characters"),
            ));
        }
        let header_ok = !self.header.is_empty()
            && self
                .header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !header_ok {
            return Err(invalid(format!("{field}.header"), "must be a header name"));
        }
        if self.values.is_empty()
            || self.values.len() > MAX_VALUES
            || self
                .values
                .iter()
                .any(|v| v.is_empty() || v.chars().count() > VALUE_MAX)
        {
            return Err(invalid(
                format!("{field}.values"),
                format!("must list 1 to {MAX_VALUES} non-empty values"),
            ));
        }
        if self.op == Op::Regex {
            for v in &self.values {
                if let Err(e) = regex_lite::Regex::new(v) {
                    return Err(invalid(
                        format!("{field}.values"),
                        format!("`{v}` is not a regular expression: {e}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The format the first matching rule names, if any.
pub fn pick(rules: &[Rule], header: impl Fn(&str) -> Option<String>) -> Option<Format> {
    rules
        .iter()
        .find(|r| header(&r.header).is_some_and(|v| r.matches(&v)))
        .map(|r| r.format)
}

/// The request headers the rules read, each once: what a picked format depends on.
pub fn headers(rules: &[Rule]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in rules {
        if !names.contains(&r.header) {
            names.push(r.header.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {

    #[test]
    fn names_are_counted_in_characters_as_the_schema_counts() {
        let mut r = rule(
            "ü".repeat(NAME_MAX).as_str(),
            Op::Prefix,
            &["a"],
            Format::Clash,
        );
        assert!(r.check(0).is_ok(), "100 two-byte characters fit");
        r.name.push('ü');
        assert!(r.check(0).is_err());
    }

    use super::*;

    fn ua(agent: &str) -> Option<Format> {
        let agent = agent.to_string();
        pick(&defaults(), |h| (h == "user-agent").then(|| agent.clone()))
    }

    #[test]
    fn default_rules_pick_the_expected_formats() {
        assert_eq!(ua("clash-verge/v2.0.3"), Some(Format::Clash));
        assert_eq!(ua("ClashMetaForAndroid/2.11"), Some(Format::Clash));
        assert_eq!(ua("mihomo/1.19.0"), Some(Format::Clash));
        assert_eq!(ua("FlClash/0.8"), Some(Format::Clash));
        assert_eq!(ua("Stash/2.4"), Some(Format::Clash));
        assert_eq!(ua("ClashX/1.9"), Some(Format::Clash));
        assert_eq!(ua("SFA/1.12.0 (Android)"), Some(Format::Singbox));
        assert_eq!(ua("SFI/1.12"), Some(Format::Singbox));
        assert_eq!(ua("HiddifyNext/2.5.7"), Some(Format::Singbox));
        assert_eq!(ua("Hiddify/2.5.7"), Some(Format::Singbox));
        assert_eq!(ua("karing/1.1"), Some(Format::Singbox));
        assert_eq!(ua("my-sing-box-wrapper/3"), Some(Format::Singbox));
        assert_eq!(ua("v2rayNG/1.9.0"), None);
        assert_eq!(ua("v2rayN/6.45"), None);
        assert_eq!(ua("Happ/1.63"), None);
        assert_eq!(ua(""), None);
        assert_eq!(pick(&defaults(), |_| None), None, "no User-Agent at all");
        let browser = |accept: &str| {
            let accept = accept.to_string();
            pick(&defaults(), |h| match h {
                "accept" => Some(accept.clone()),
                "user-agent" => Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
                _ => None,
            })
        };
        assert_eq!(
            browser("text/html,application/xhtml+xml,*/*;q=0.8"),
            Some(Format::Browser)
        );
        assert_eq!(browser("*/*"), None, "a client asking for anything");
    }

    /// Every client the default rules name, with the format it gets and, for sing-box, the
    /// config form its core loads (`agent.rs`). User-Agents as the apps send them where their
    /// sources show it (SFA/SFI/SFM/SFT: sing-box `docs/installation/clients/*.md`; Hiddify:
    /// hiddify-app `lib/core/model/app_info_entity.dart`).
    #[test]
    fn user_agent_table() {
        use xray::singbox::Class::{V1_10, V1_11, V1_12, V1_8};
        const CLASH: Option<Format> = Some(Format::Clash);
        const SINGBOX: Option<Format> = Some(Format::Singbox);
        let widest = Some(xray::singbox::Class::WIDEST);
        let table = [
            ("clash-verge/v2.0.3", CLASH, None),
            ("Clash-Verge/1.3.8", CLASH, None),
            ("clash-nyanpasu/1.6", CLASH, None),
            ("Clash.Meta/1.18", CLASH, None),
            ("ClashMetaForAndroid/2.11.5.Meta", CLASH, None),
            ("clash-meta/1.18", CLASH, None),
            ("Clash Meta for Windows", CLASH, None),
            ("ClashX Meta/1.3.9", CLASH, None),
            ("FlClash/0.8.70", CLASH, None),
            ("FlClash X/0.1", CLASH, None),
            ("Flowvy/1.0", CLASH, None),
            ("murge/1.0", CLASH, None),
            ("mihomo/1.19.0", CLASH, None),
            ("prizrak-box/1.0", CLASH, None),
            ("koala-clash/1.0", CLASH, None),
            ("Stash/2.4.7 Clash/1.9.0", CLASH, None),
            ("ClashX/1.95", CLASH, None),
            ("ClashforWindows/0.20", CLASH, None),
            ("SFA/1.12.8 (597; sing-box 1.12.8)", SINGBOX, Some(V1_12)),
            ("SFA/1.11.4 (523; sing-box 1.11.4)", SINGBOX, Some(V1_11)),
            ("SFA/1.10.7 (467; sing-box 1.10.7)", SINGBOX, Some(V1_10)),
            ("SFA/1.9.3", SINGBOX, Some(V1_8)),
            ("SFI/1.11.0 (303; sing-box 1.11.0)", SINGBOX, Some(V1_11)),
            (
                "SFI/1.13.0-beta.2 (400; sing-box 1.13.0-beta.2)",
                SINGBOX,
                Some(V1_12),
            ),
            ("SFM/1.10.1 (200; sing-box 1.10.1)", SINGBOX, Some(V1_10)),
            ("SFT/1.12.0 (10; sing-box 1.12.0)", SINGBOX, Some(V1_12)),
            ("SFA", SINGBOX, widest),
            ("sing-box 1.10.1", SINGBOX, Some(V1_10)),
            ("sing-box/1.11.3", SINGBOX, Some(V1_11)),
            ("sing-box v1.8.14", SINGBOX, Some(V1_8)),
            ("my-singbox/1.12.0", SINGBOX, Some(V1_12)),
            ("sing-box", SINGBOX, widest),
            ("karing/1.1.2.606 (android)", SINGBOX, widest),
            ("Karing/1.0", SINGBOX, widest),
            // Hiddify names the app's version; `agent::HIDDIFY_CORES` maps its release lines to
            // the core each pins (hiddify-app `dependencies.properties`, hiddify-core `go.mod`).
            (
                "HiddifyNext/2.5.7 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_8),
            ),
            (
                "HiddifyNext/2.5.1 (windows) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_8),
            ),
            (
                "HiddifyNext/2.0.5 (linux) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_8),
            ),
            (
                "HiddifyNext/1.5.2 (ios) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_8),
            ),
            (
                "HiddifyNext/0.14.20 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_8),
            ),
            ("HiddifyNext/0.10.0 (macos)", SINGBOX, Some(V1_8)),
            ("HiddifyNext/0.1.0 (android)", SINGBOX, Some(V1_8)),
            (
                "HiddifyNext/4.0.4 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_12),
            ),
            (
                "HiddifyNext/4.1.2 (windows) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_12),
            ),
            (
                "HiddifyNextX/4.1.2 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                Some(V1_12),
            ),
            // Between and past the verified lines (no 2.6–3.x release; 4.2+ not yet seen): the
            // widest form.
            (
                "HiddifyNext/3.0.0 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                widest,
            ),
            (
                "HiddifyNext/4.2.0 (android) like ClashMeta v2ray sing-box",
                SINGBOX,
                widest,
            ),
            ("HiddifyNext/5.0.0", SINGBOX, widest),
            ("HiddifyNext", SINGBOX, widest),
            // Not a form any Hiddify release sends: the widest form.
            ("Hiddify/2.5.7", SINGBOX, widest),
            ("hiddify-next/0.13", SINGBOX, widest),
            ("v2rayNG/1.9.0", None, None),
            ("v2rayN/6.45", None, None),
            ("Happ/1.63.1", None, None),
            ("Streisand/1.6", None, None),
            ("Shadowrocket/2070", None, None),
            ("", None, None),
        ];
        for (agent, format, class) in table {
            assert_eq!(ua(agent), format, "{agent}");
            if let Some(class) = class {
                assert_eq!(crate::singbox_class(Some(agent)), class, "{agent}");
            }
        }
        assert_eq!(
            crate::singbox_class(None),
            xray::singbox::Class::WIDEST,
            "no User-Agent"
        );
    }

    /// Found by fuzzing: a value ending in Σ, lowercased as a word (ς), was not found in a
    /// header where a letter follows it (σ).
    #[test]
    fn case_is_folded_per_character() {
        let rule = |op| Rule {
            name: "g".into(),
            header: "user-agent".into(),
            op,
            values: vec!["ΣΑΣ".into()],
            case_sensitive: false,
            format: Format::Clash,
        };
        assert!(rule(Op::Contains).matches("ΣΑΣapp/1.0"));
        assert!(rule(Op::Prefix).matches("σασApp/1.0"));
        assert!(rule(Op::Equals).matches("σας"));
        assert!(!rule(Op::Equals).matches("σα"));
    }

    #[test]
    fn regex_rules_and_case() {
        let rules = vec![Rule {
            name: "x".into(),
            header: "user-agent".into(),
            op: Op::Regex,
            values: vec!["^Happ/\\d+".into()],
            case_sensitive: true,
            format: Format::Singbox,
        }];
        assert_eq!(
            pick(&rules, |_| Some("Happ/1.63".into())),
            Some(Format::Singbox)
        );
        assert_eq!(pick(&rules, |_| Some("happ/1.63".into())), None);
        assert!(rules[0].check(0).is_ok());
        let mut bad = rules[0].clone();
        bad.values = vec!["(".into()];
        assert!(bad.check(0).is_err());
    }
}
