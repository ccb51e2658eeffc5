//! The sing-box core a client runs, read from its User-Agent: the export writes the config form
//! that core loads (`xray::singbox::Class`).

use xray::singbox::Class;

/// The apps built from the sing-box repository. Their User-Agent is
/// `SFA/$version ($version_code; sing-box $sing_box_version)` (SagerNet/sing-box
/// `docs/installation/clients/sf{a,i,m,t}.md`, commit 9b12e3e3), and the app version is the
/// core's tag (`cmd/internal/update_android_version`, `update_apple_version`).
const OFFICIAL_APPS: [&str; 4] = ["sfa/", "sfi/", "sfm/", "sft/"];

/// Hiddify (hiddify/hiddify-app, formerly hiddify-next) names its own version, not the core's:
/// `HiddifyNext/$version ($os) like ClashMeta v2ray sing-box`
/// (`lib/core/model/app_info_entity.dart`, tags v0.12.0–v4.1.2; `HiddifyNext/$version ($os)`
/// before, `lib/domain/app/app_info.dart`), and
/// `HiddifyNextX/…` when 4.x prefers xray (`lib/features/profile/data/profile_parser.dart`,
/// v4.0.4). No release sends `Hiddify/…`.
const HIDDIFY_APPS: [&str; 2] = ["hiddifynext/", "hiddifynextx/"];

/// An app's `major.minor`.
type AppVersion = (u32, u32);

/// The config form each Hiddify release line loads: first and last app `major.minor`, inclusive.
/// Each hiddify-app tag pins a hiddify-core release (`dependencies.properties` `core.version`,
/// which the `Makefile` downloads from hiddify-core's releases), and that hiddify-core's `go.mod`
/// names the sing-box it builds.
const HIDDIFY_CORES: [(AppVersion, AppVersion, Class); 2] = [
    // App v0.1.0–v2.5.7 (core.version 0.1.1–3.1.8): hiddify-core `go.mod` at v0.1.1–v3.1.8
    // replaces sagernet/sing-box with hiddify/hiddify-sing-box, a fork of the upstream 1.4–1.9
    // lines: v1.5.0.7 (core v0.1.1); v1.4–v1.5 (v0.3.0–v0.5.4, `require` v1.4.1/v1.5.1, the fork
    // commits not in the public mirror); v1.5.3.h1 (v0.6.0–v0.8.2); v1.7.x (v0.8.3–v0.11.2);
    // v1.8.x (v0.12.1–v1.2.1); v1.8.8.h3 with upstream 1.9 merged (v1.3.0–v3.1.8; at
    // hiddify-sing-box 7b79bf0c, used by core v3.0.0–v3.1.8 and so app v2.5.x, "Merge branch
    // '1.9.6'"). None of those fork commits has the tun `address` field or route rule `action`
    // (`option/tun.go`, `option/rule.go`): the 1.8 form.
    ((0, 0), (2, 5), Class::V1_8),
    // App v4.0.4–v4.1.2 (core.version 4.0.4, 4.1.0; hiddify-core submodule a909abda, c9d6f0f0):
    // hiddify-core `go.mod` at v4.0.4 and v4.1.0 requires sagernet/sing-box v1.13.0, replaced by
    // its hiddify-sing-box submodule (`v1.13.0-rc.2.0.20260209222802-dd10a2129de7` in the
    // commented-out replace; sing v0.8.0-beta.11, sing-tun v0.8.0-beta.17), and its own
    // `v2/config/builder.go` writes `route.default_domain_resolver`: the 1.12+ form.
    ((4, 0), (4, 1), Class::V1_12),
];

/// The config form for a client with this User-Agent. The core's version is taken from
/// `sing-box x.y` / `singbox/x.y` anywhere in it, else from an official app's own version, else
/// from a Hiddify release line whose core its sources show (`HIDDIFY_CORES`); anything else
/// (Karing and other apps name their own version, not the core's, and no public source maps one
/// to the other; Hiddify releases outside the table) gets the widest form.
pub fn singbox_class(user_agent: Option<&str>) -> Class {
    let Some(ua) = user_agent.map(str::to_ascii_lowercase) else {
        return Class::WIDEST;
    };
    if let Some((major, minor)) = core_version(&ua).or_else(|| official_app_version(&ua)) {
        return Class::of(major, minor);
    }
    hiddify_class(&ua).unwrap_or(Class::WIDEST)
}

/// The form a Hiddify release loads, if its line is in `HIDDIFY_CORES`.
fn hiddify_class(ua: &str) -> Option<Class> {
    let rest = HIDDIFY_APPS.iter().find_map(|app| ua.strip_prefix(app))?;
    let app = version(rest)?;
    HIDDIFY_CORES
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&app))
        .map(|(_, _, class)| *class)
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
