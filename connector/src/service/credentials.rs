//! ConductorOne's client credentials, parsed as baton-sdk parses them.
//!
//! - The client id is `<client name>@<host>/<suffix>`: split at the first `@`, then the rest at
//!   its first `/`. The host names ConductorOne (the token endpoint, the gRPC server and the
//!   JWT's audience); the name only goes into the User-Agent; the suffix is ignored.
//! - The client secret is `<a>:<b>:v1:<base64url, unpadded, of an Ed25519 private JWK>`. The
//!   key signs the client assertion; the secret itself is never sent anywhere.
//!
//! Error messages say what is wrong with a value without ever quoting the secret (nor any part
//! of it: a JSON parser's message can quote its input, so none is passed on).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::secret::Secret;

/// The flag and environment names, for messages.
pub const CLIENT_ID_FLAG: &str = "--client-id (BATON_CLIENT_ID)";
pub const CLIENT_SECRET_FLAG: &str = "--client-secret (BATON_CLIENT_SECRET)";

/// A malformed client id or secret, phrased for the person who pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("{CLIENT_ID_FLAG} is malformed: {0}; expected <client name>@<host>/<suffix>, as ConductorOne issues it")]
    ClientId(String),
    #[error("{CLIENT_SECRET_FLAG} is malformed: {0}; expected the secret ConductorOne issued with the client id (<a>:<b>:v1:<key>)")]
    ClientSecret(String),
}

/// A parsed client id.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientId {
    full: String,
    name: String,
    host: String,
}

impl ClientId {
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let text = text.trim();
        let bad = |why: &str| CredentialError::ClientId(why.to_owned());
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let (name, rest) = text.split_once('@').ok_or_else(|| bad("it has no '@'"))?;
        let (host, _suffix) = rest
            .split_once('/')
            .ok_or_else(|| bad("it has no '/' after the host"))?;
        if host.is_empty() {
            return Err(bad("the host between '@' and '/' is empty"));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(bad("the host between '@' and '/' is not a host name"));
        }
        Ok(Self {
            full: text.to_owned(),
            name: name.to_owned(),
            host: host.to_owned(),
        })
    }

    /// The whole id, as sent in `client_id` and the JWT's `iss` and `sub`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The client name before `@` (User-Agent only).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host after `@`, possibly with a port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The JWT audience: the client id's host without a port (never `BATON_C1_API_HOST`).
    pub fn audience(&self) -> &str {
        strip_port(&self.host)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientId").field(&self.full).finish()
    }
}

/// `host:port` → `host`; `[::1]:443` → `::1`; a bare host (or IPv6 address) is returned whole.
pub fn strip_port(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split_once(']').map_or(inner, |(h, _)| h);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The Ed25519 key of a client secret. Prints as redacted; the key never leaves this type
/// except as signatures.
pub struct ClientSecret {
    key: Ed25519KeyPair,
    key_id: Option<String>,
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

#[derive(serde::Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    d: Option<String>,
    kid: Option<String>,
}

impl ClientSecret {
    pub fn parse(secret: &Secret) -> Result<Self, CredentialError> {
        let bad = |why: &str| CredentialError::ClientSecret(why.to_owned());
        let text = secret.expose().trim();
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let parts: Vec<&str> = text.splitn(4, ':').collect();
        let [_, _, version, key] = parts.as_slice() else {
            return Err(bad(&format!("it has {} ':'-separated part(s), not 4", parts.len())));
        };
        if *version != "v1" {
            return Err(bad("its third part is not v1"));
        }
        let json = URL_SAFE_NO_PAD
            .decode(key.as_bytes())
            .map_err(|_| bad("its key is not unpadded base64url"))?;
        let jwk: Jwk = serde_json::from_slice(&json).map_err(|_| bad("its key is not a JSON Web Key"))?;
        if jwk.kty.as_deref() != Some("OKP") || jwk.crv.as_deref() != Some("Ed25519") {
            return Err(bad("its key is not an Ed25519 key (kty OKP, crv Ed25519)"));
        }
        let field = |v: Option<String>, name: &str| -> Result<Vec<u8>, CredentialError> {
            let v = v.ok_or_else(|| bad(&format!("its key has no {name}")))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(v.as_bytes())
                .map_err(|_| bad(&format!("its key's {name} is not base64url")))?;
            if bytes.len() != 32 {
                return Err(bad(&format!("its key's {name} is not 32 bytes")));
            }
            Ok(bytes)
        };
        let public = field(jwk.x, "x")?;
        let private = field(jwk.d.clone(), "d (it is not a private key)")?;
        let key = Ed25519KeyPair::from_seed_and_public_key(&private, &public)
            .map_err(|_| bad("its key's private and public halves do not match"))?;
        Ok(Self {
            key,
            key_id: jwk.kid.filter(|k| !k.is_empty()),
        })
    }

    /// The `kid` of the JWK, when it has one (then the JWS header carries it).
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The raw 32-byte public key, for verifying signatures.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }
}

/// The client secret baton-sdk's format gives for an Ed25519 key: `prefix:v1:<JWK>`, used by
/// tests and tools that need a fresh credential. `seed` is the 32-byte private key.
pub fn encode_client_secret(prefix_a: &str, prefix_b: &str, seed: &[u8; 32]) -> Option<Secret> {
    let pair = Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        "d": URL_SAFE_NO_PAD.encode(seed),
    });
    Some(Secret::new(format!(
        "{prefix_a}:{prefix_b}:v1:{}",
        URL_SAFE_NO_PAD.encode(jwk.to_string())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_split_like_the_sdk() {
        let id = ClientId::parse("strange-hydra-68836@acme.conductor.one/pcc").ok();
        assert_eq!(id.as_ref().map(ClientId::name), Some("strange-hydra-68836"));
        assert_eq!(id.as_ref().map(ClientId::host), Some("acme.conductor.one"));
        assert_eq!(id.as_ref().map(ClientId::audience), Some("acme.conductor.one"));
        let id = ClientId::parse("test@127.0.0.1:8443/lambda").ok();
        assert_eq!(id.as_ref().map(ClientId::host), Some("127.0.0.1:8443"));
        assert_eq!(id.as_ref().map(ClientId::audience), Some("127.0.0.1"));
        // The suffix may hold more '/' and '@'.
        let id = ClientId::parse("a@h/x/y@z").ok();
        assert_eq!(id.as_ref().map(ClientId::host), Some("h"));
        for bad in ["", "nohost", "a@host", "a@/x", "a@b c/x"] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ports_come_off_the_audience() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:443"), "::1");
        assert_eq!(strip_port("::1"), "::1");
    }

    #[test]
    fn a_fresh_secret_parses_and_signs() {
        let secret = encode_client_secret("fixture", "fixture", &[7; 32]);
        let parsed = secret.as_ref().map(ClientSecret::parse);
        let Some(Ok(key)) = parsed else {
            unreachable!("a fresh secret must parse: {parsed:?}")
        };
        let signature = key.sign(b"hello");
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.public_key());
        assert!(public.verify(b"hello", &signature).is_ok());
        assert!(public.verify(b"hullo", &signature).is_err());
        assert_eq!(key.key_id(), None);
    }

    #[test]
    fn malformed_secrets_say_why_without_the_secret() {
        let good = encode_client_secret("a", "b", &[9; 32])
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let key_part = good.rsplit(':').next().unwrap_or_default().to_owned();
        let other_public = {
            let jwk = serde_json::json!({
                "kty": "OKP", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode([1u8; 32]),
                "d": URL_SAFE_NO_PAD.encode([9u8; 32]),
            });
            format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))
        };
        let public_only = {
            let jwk = serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32]) });
            format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode(jwk.to_string()))
        };
        let rsa = format!(
            "a:b:v1:{}",
            URL_SAFE_NO_PAD.encode(r#"{"kty":"RSA","n":"ZQXMARKPART"}"#)
        );
        let cases = [
            ("s3cr3t".to_owned(), "not 4"),
            (format!("a:b:v2:{key_part}"), "not v1"),
            ("a:b:v1:ZQXMARK%%%".to_owned(), "base64url"),
            (
                format!("a:b:v1:{}", URL_SAFE_NO_PAD.encode("ZQXMARK not json")),
                "JSON Web Key",
            ),
            (rsa, "not an Ed25519 key"),
            (public_only, "no d"),
            (other_public, "do not match"),
            (format!("{good}="), "base64url"),
        ];
        for (secret, why) in cases {
            let err = ClientSecret::parse(&Secret::new(secret.clone()))
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains(why), "{secret}: {err}");
            assert!(err.contains("--client-secret (BATON_CLIENT_SECRET)"), "{err}");
            assert!(!err.contains("ZQXMARK"), "the secret leaked: {err}");
            let tail = secret.rsplit(':').next().unwrap_or_default();
            assert!(tail.len() < 4 || !err.contains(tail), "the key leaked: {err}");
        }
    }
}
