//! HTTPS: the Core's certificate and key (`TLS_CERT_FILE`, `TLS_KEY_FILE`), loaded at start and
//! again on SIGHUP. New connections take whichever configuration is current; open ones keep the
//! one they started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain in {path} (TLS_CERT_FILE): {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read the private key in {path} (TLS_KEY_FILE): {reason}")]
    Key { path: PathBuf, reason: String },
    #[error(
        "the certificate in {cert} and the key in {key} do not form a TLS configuration: {source}"
    )]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The files and the configuration built from them.
pub struct Tls {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
}

impl Tls {
    /// Loads both files; any problem refuses the start.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        Ok(Tls {
            current: ArcSwap::from(server_config(files)?),
            files: files.clone(),
        })
    }

    /// Reads the files again (a renewed certificate); on error the previous one keeps serving.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.current.store(server_config(&self.files)?);
        Ok(())
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }
}

fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|source| TlsError::Pair {
                cert: files.cert.clone(),
                key: files.key.clone(),
                source,
            })?;
    // h2 first: clients that speak both get multiplexing.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |reason: String| TlsError::Cert {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if chain.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}
