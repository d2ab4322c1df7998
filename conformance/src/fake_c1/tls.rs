//! The fake's TLS: a fresh self-signed CA per start and a leaf for `localhost` and 127.0.0.1
//! signed by it, served by rustls with ALPN `h2` (gRPC clients such as grpc-go refuse a server
//! that does not negotiate it) and `http/1.1` (a token POST may come over either). The CA, never
//! the leaf, is what a connector is told to trust (`SSL_CERT_FILE`), as with a real private CA.

use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and the server configuration of a leaf it signed.
#[derive(Debug)]
pub struct Tls {
    /// The CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn make() -> anyhow::Result<Tls> {
    let ca_key = KeyPair::generate().context("cannot make the CA key")?;
    let mut ca_params = CertificateParams::default();
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "notion-conformance fake ConductorOne CA");
    ca_params.distinguished_name = ca_name;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).context("cannot sign the CA")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().context("cannot make the server key")?;
    let mut leaf_params = CertificateParams::default();
    let mut leaf_name = DistinguishedName::new();
    leaf_name.push(DnType::CommonName, "localhost");
    leaf_params.distinguished_name = leaf_name;
    leaf_params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().context("localhost is a DNS name")?),
        SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
    ];
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .context("cannot sign the server certificate")?;

    let chain = vec![
        CertificateDer::from(leaf_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("the TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the server certificate")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    })
}
