//! Which export format a subscription request gets: the formats and their names ([`Format`]),
//! the operator's ordered header rules ([`Rule`], [`pick`]) and the sing-box config form a
//! User-Agent's core loads ([`singbox_class`]). Pure code on request headers, outside the
//! `subscriptions` component so it is unit-tested and fuzzed natively (`fuzz/`).

mod agent;
mod format;
mod rules;

pub use agent::singbox_class;
pub use format::{Format, NAMES};
pub use rules::{defaults, headers, pick, Op, Rule, RuleError, MAX_VALUES};
