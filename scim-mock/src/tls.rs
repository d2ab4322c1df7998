//! HTTPS for the emulation: a throwaway certificate authority and a server certificate it
//! signs, made at start-up.
//!
//! Real clients often refuse a plain `http` base URL, and a client cannot be told to trust a
//! certificate that is its own CA (webpki refuses a CA certificate as a server's), so there are
//! two: a CA the client is told to trust (its PEM is handed out, never its key) and a server
//! certificate for `localhost`, `127.0.0.1`, `::1` and whatever host the server listens on.
//! Both keys live only in memory and die with the server.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors making the certificates or the TLS configuration.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct TlsError(String);

fn err(e: impl std::fmt::Display) -> TlsError {
    TlsError(e.to_string())
}

/// A server identity for TLS: the acceptor and the PEM of the CA that signed its certificate.
#[derive(Clone)]
pub struct TlsIdentity {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    ca_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A new CA and a server certificate for the loopback names plus `extra_names` (host names
    /// or IP addresses).
    pub fn generate(extra_names: &[String]) -> Result<TlsIdentity, TlsError> {
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "notion-scim-mock throwaway CA");
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        for n in extra_names {
            if !n.is_empty() && !names.contains(n) {
                names.push(n.clone());
            }
        }
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name.push(DnType::CommonName, "notion-scim-mock");
        leaf.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n.clone().try_into().map(SanType::DnsName).map_err(err),
            })
            .collect::<Result<_, _>>()?;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().map_err(err)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(err)?;

        let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(err)?;
        // The server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca_cert.pem(),
        })
    }

    /// The CA certificate a client must trust, as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}
