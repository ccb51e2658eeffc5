//! The sing-box core a client runs, read from its User-Agent: the export writes the config form
//! that core loads (`xray::singbox::Class`).

use xray::singbox::Class;

/// The apps built from the sing-box repository. Their User-Agent is
/// `SFA/$version ($version_code; sing-box $sing_box_version)` (SagerNet/sing-box
/// `docs/installation/clients/sf{a,i,m,t}.md`, commit 9b12e3e3), and the app version is the
/// core's tag (`cmd/internal/update_android_version`, `update_apple_version`).
const OFFICIAL_APPS: [&str; 4] = ["sfa/", "sfi/", "sfm/", "sft/"];

/// The config form for a client with this User-Agent. The core's version is taken from
/// `sing-box x.y` / `singbox/x.y` anywhere in it, else from an official app's own version;
/// anything else (Hiddify, Karing and other apps name their own version, not the core's, and
/// no public source maps one to the other) gets the widest form.
pub fn singbox_class(user_agent: Option<&str>) -> Class {
    let Some(ua) = user_agent.map(str::to_ascii_lowercase) else {
        return Class::WIDEST;
    };
    core_version(&ua)
        .or_else(|| official_app_version(&ua))
        .map_or(Class::WIDEST, |(major, minor)| Class::of(major, minor))
}

/// `x.y` right after `sing-box` or `singbox` and one separator (space, `/`, `v`).
fn core_version(ua: &str) -> Option<(u32, u32)> {
    ["sing-box", "singbox"].iter().find_map(|name| {
        ua.match_indices(name).find_map(|(at, _)| {
            let rest = &ua[at + name.len()..];
            let rest = rest.strip_prefix([' ', '/', '-', '_'])?;
            version(rest.strip_prefix('v').unwrap_or(rest))
        })
    })
}

fn official_app_version(ua: &str) -> Option<(u32, u32)> {
    let rest = OFFICIAL_APPS.iter().find_map(|app| ua.strip_prefix(app))?;
    version(rest)
}

/// The leading `major.minor` of `text`.
fn version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.splitn(3, '.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    Some((major, minor))
}

/// The leading digits of `text` (at least one).
fn number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}
