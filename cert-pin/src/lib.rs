//! Certificate pinning for rustls clients, shared by the Core (components' outbound HTTP to
//! self-signed node agents) and the node agent (`--core-pin` for a self-signed Core).
//!
//! A pinned peer is trusted iff SHA-256 of its DER certificate equals the pin, whatever its
//! issuer or names. The handshake signatures are still checked, so the peer must hold the
//! certificate's key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

/// A pin that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("a pin is the certificate's SHA-256 as 64 hex digits (':' separators allowed)")]
pub struct PinFormatError;

/// The peer's certificate is not the pinned one. It travels inside rustls's error
/// (`CertificateError::Other`), so callers can tell it from other TLS failures by downcasting.
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate SHA-256 is {seen}, not the pinned {pinned}")]
pub struct PinMismatch {
    pub seen: String,
    pub pinned: String,
}

/// Reads a pin: 64 hex digits, with or without `:` separators, in either case.
pub fn parse(pin: &str) -> Result<[u8; 32], PinFormatError> {
    let digits: String = pin.trim().chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| PinFormatError)?;
    Ok(out)
}

/// Colon-separated upper-case hex, as the node agent prints its certificate's fingerprint.
pub fn fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A rustls client config that accepts exactly the pinned certificate.
pub fn client_config(
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let verifier = PinVerifier {
        pin,
        provider: Arc::clone(&provider),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if seen == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        let mismatch = PinMismatch {
            seen: fingerprint(&seen),
            pinned: fingerprint(&self.pin),
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(mismatch)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_separators() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse(&hex).ok(), Some([0xab; 32]));
        assert_eq!(parse(&colons).ok(), Some([0xab; 32]));
        assert_eq!(parse(&format!("  {hex}\n")).ok(), Some([0xab; 32]));
        assert!(parse("abcd").is_err());
        assert!(parse(&"zz".repeat(32)).is_err());
        assert!(parse(&"ab".repeat(33)).is_err());
    }

    #[test]
    fn fingerprints_read_as_agents_print_them() {
        assert_eq!(fingerprint(&[0xab, 0x01, 0xff]), "AB:01:FF");
    }
}
