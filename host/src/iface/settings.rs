//! `nexuma:core/settings`: the Core's non-secret settings that components need.

use wasmtime::component::HasData;

use crate::bindings::nexuma::core::settings as wit;

/// What components may read of the Core's configuration.
pub struct Settings {
    /// `PUBLIC_URL`: where clients reach this Core, without a trailing slash.
    public_url: String,
}

impl Settings {
    /// `public_url` is `PUBLIC_URL`, already checked and without a trailing slash.
    pub fn new(public_url: String) -> Self {
        Settings { public_url }
    }
}

/// What `settings` reaches of an instance's store.
pub struct SettingsCtx<'a> {
    /// The Core's settings, shared by every instance.
    pub settings: &'a Settings,
}

/// Links `settings` to a [`SettingsCtx`] view of the store.
pub struct SettingsView;

impl HasData for SettingsView {
    type Data<'a> = SettingsCtx<'a>;
}

impl wit::Host for SettingsCtx<'_> {
    async fn public_url(&mut self) -> wasmtime::Result<String> {
        Ok(self.settings.public_url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host as _;

    #[tokio::test]
    async fn components_read_the_public_url() {
        let settings = Settings::new("https://vpn.example.com".into());
        let mut ctx = SettingsCtx {
            settings: &settings,
        };
        assert_eq!(
            ctx.public_url().await.expect("call"),
            "https://vpn.example.com"
        );
    }
}
