//! The API's TLS identity: the operator's certificate, or a self-signed one made on first start
//! and kept in the data dir, with its SHA-256 fingerprint for pinning.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS file {0}: no certificate or key in it")]
    Empty(PathBuf),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready server config and the fingerprint of its certificate.
pub struct TlsIdentity {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as colon-separated upper-case hex.
    pub fingerprint: String,
    pub cert_path: PathBuf,
    /// Whether this start made the certificate.
    pub created: bool,
}

/// Loads `cert`/`key` when given, else the data dir's pair, made on first start.
pub fn identity(
    data_dir: &Path,
    given: Option<(&Path, &Path)>,
    names: &[String],
) -> Result<TlsIdentity, TlsError> {
    let (cert_path, key_path, created) = match given {
        Some((c, k)) => (c.to_owned(), k.to_owned(), false),
        None => {
            let dir = data_dir.join("tls");
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            let created = !c.exists() || !k.exists();
            if created {
                make_self_signed(&dir, &c, &k, names)?;
            }
            (c, k, created)
        }
    };
    let certs = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let fingerprint = certs
        .first()
        .map(|c| fingerprint_of(c.as_ref()))
        .ok_or_else(|| TlsError::Empty(cert_path.clone()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        config: Arc::new(config),
        fingerprint,
        cert_path,
        created,
    })
}

pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn make_self_signed(dir: &Path, cert: &Path, key: &Path, names: &[String]) -> Result<(), TlsError> {
    let file_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::File { path, source }
    };
    std::fs::create_dir_all(dir).map_err(file_err(dir))?;
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    sans.extend(names.iter().cloned());
    let made = rcgen::generate_simple_self_signed(sans)?;
    write_private(key, made.key_pair.serialize_pem().as_bytes()).map_err(file_err(key))?;
    std::fs::write(cert, made.cert.pem()).map_err(file_err(cert))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::File {
        path: path.to_owned(),
        source,
    })?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut bytes.as_slice()).collect();
    let certs = certs.map_err(|source| TlsError::File {
        path: path.to_owned(),
        source,
    })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(path.to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::File {
        path: path.to_owned(),
        source,
    })?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|source| TlsError::File {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::Empty(path.to_owned()))
}
