//! ConductorOne's client credentials and token exchange, as the fake plays them: it mints a
//! client id (`<name>@<host>/<suffix>`) and an Ed25519 client secret
//! (`secret-token:conductorone.com:v1:<base64url JWK>`), keeps only the public key, and at
//! `POST /auth/v1/token` accepts a client assertion only when it is an EdDSA JWS that this key
//! verifies with the claims baton-sdk sends (`iss` = `sub` = client id, `aud` = the client id's
//! host without port, `nbf` <= now <= `exp`, `exp` - `iat` <= 5 minutes). A secret that is not
//! the registered one therefore fails as it would at ConductorOne.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::Deserialize;
use serde_json::Value;

/// The form field values baton-sdk sends.
pub const GRANT_TYPE: &str = "client_credentials";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest assertion lifetime the docs allow.
const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `nbf` and `exp`.
const SKEW_SECS: i64 = 30;

/// A client id and secret this fake minted. The secret is a test credential for this fake
/// only: it is shown to whoever starts the fake, since the connector needs it.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// What the fake keeps of a client: its id and its public key.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client_id: String,
    public_key: Vec<u8>,
}

fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(out)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random name in the docs' shape (`strange-hydra-68836`).
fn client_name() -> anyhow::Result<String> {
    const FIRST: [&str; 8] = [
        "strange", "quiet", "brisk", "amber", "lucid", "stout", "nimble", "polar",
    ];
    const SECOND: [&str; 8] = ["hydra", "otter", "falcon", "lynx", "heron", "bison", "gecko", "marten"];
    let r = random_bytes::<4>()?;
    let number = u32::from(r[2]) << 8 | u32::from(r[3]);
    Ok(format!(
        "{}-{}-{}",
        FIRST[usize::from(r[0]) % FIRST.len()],
        SECOND[usize::from(r[1]) % SECOND.len()],
        10000 + number % 90000
    ))
}

/// A fresh client for `host` (`host` or `host:port`): the credentials to hand out and what the
/// fake registers.
pub fn mint(host: &str) -> anyhow::Result<(Credentials, Registered)> {
    let client_id = format!("{}@{host}/pcc", client_name()?);
    let (client_secret, public_key) = secret_for_new_key()?;
    Ok((
        Credentials {
            client_id: client_id.clone(),
            client_secret,
        },
        Registered { client_id, public_key },
    ))
}

/// A well-formed client secret for a fresh key, and its public key. The fake uses it to mint;
/// tests use it for a secret that parses but is not the registered one.
pub fn secret_for_new_key() -> anyhow::Result<(String, Vec<u8>)> {
    let seed = random_bytes::<32>()?;
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| anyhow::anyhow!("cannot make a key: {e}"))?;
    let public_key = pair.public_key().as_ref().to_vec();
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(&public_key),
        "d": URL_SAFE_NO_PAD.encode(seed),
    });
    let secret = format!(
        "secret-token:conductorone.com:v1:{}",
        URL_SAFE_NO_PAD.encode(jwk.to_string())
    );
    Ok((secret, public_key))
}

/// The private key inside a client secret, read the way baton-sdk reads it.
pub fn key_from_secret(secret: &str) -> anyhow::Result<Ed25519KeyPair> {
    let parts: Vec<&str> = secret.splitn(4, ':').collect();
    if parts.len() != 4 || parts[2] != "v1" {
        anyhow::bail!("a client secret has the form <a>:<b>:v1:<base64url JWK>");
    }
    let jwk: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[3])
            .map_err(|_| anyhow::anyhow!("the client secret's key is not base64url"))?,
    )
    .map_err(|_| anyhow::anyhow!("the client secret's key is not JSON"))?;
    if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
        anyhow::bail!("the client secret's key is not an Ed25519 JWK");
    }
    let d = URL_SAFE_NO_PAD
        .decode(jwk["d"].as_str().unwrap_or_default())
        .map_err(|_| anyhow::anyhow!("the client secret's private key is not base64url"))?;
    Ed25519KeyPair::from_seed_unchecked(&d)
        .map_err(|_| anyhow::anyhow!("the client secret's private key is not 32 bytes"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The host part of a client id without its port (the `aud` baton-sdk sends).
pub fn audience(client_id: &str) -> Option<String> {
    let (_, rest) = client_id.split_once('@')?;
    let (host, _) = rest.split_once('/')?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    Some(host.to_string())
}

/// A client assertion as baton-sdk signs it (EdDSA, 16-byte hex nonce, 2-minute window), with
/// the key inside `secret`: for tests and for the fake's own checks.
pub fn sign_assertion(client_id: &str, secret: &str) -> anyhow::Result<String> {
    let now = unix_now();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience(client_id).unwrap_or_default(),
        "exp": now + 120,
        "nbf": now - 120,
        "iat": now,
    });
    sign_claims(secret, &claims)
}

/// An EdDSA JWS over any `claims`, signed with the key inside `secret` (tests use it for
/// assertions with wrong claims).
pub fn sign_claims(secret: &str, claims: &Value) -> anyhow::Result<String> {
    let pair = key_from_secret(secret)?;
    let nonce = hex(&random_bytes::<16>()?);
    let header = serde_json::json!({"alg": "EdDSA", "nonce": nonce});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    unix_now()
}

/// The token request's form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub grant_type: String,
    #[serde(default)]
    pub client_assertion_type: String,
    #[serde(default)]
    pub client_assertion: String,
}

/// Why a token request was refused (never holds the assertion itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

impl Registered {
    /// Checks a token request against this client; `Ok` when a token may be issued.
    pub fn verify(&self, form: &TokenForm) -> Result<(), Refusal> {
        if form.grant_type != GRANT_TYPE {
            return refuse(format!("grant_type must be {GRANT_TYPE}"));
        }
        if form.client_assertion_type != ASSERTION_TYPE {
            return refuse("client_assertion_type must be the jwt-bearer type");
        }
        if form.client_id != self.client_id {
            return refuse("unknown client_id");
        }
        let parts: Vec<&str> = form.client_assertion.split('.').collect();
        if parts.len() != 3 {
            return refuse("client_assertion is not a compact JWS");
        }
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| Refusal(format!("the assertion's {what} is not base64url")))
        };
        let header: Value = serde_json::from_slice(&decode(parts[0], "header")?)
            .map_err(|_| Refusal("the assertion's header is not JSON".into()))?;
        if header["alg"] != "EdDSA" {
            return refuse("the assertion's alg must be EdDSA");
        }
        let signature = decode(parts[2], "signature")?;
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| Refusal("the assertion's signature does not verify with the client's key".into()))?;
        let claims: Value = serde_json::from_slice(&decode(parts[1], "claims")?)
            .map_err(|_| Refusal("the assertion's claims are not JSON".into()))?;
        if claims["iss"] != self.client_id.as_str() || claims["sub"] != self.client_id.as_str() {
            return refuse("iss and sub must both be the client id");
        }
        let aud = audience(&self.client_id).unwrap_or_default();
        let aud_ok = match &claims["aud"] {
            Value::String(s) => *s == aud,
            Value::Array(list) => list.iter().any(|v| *v == aud.as_str()),
            _ => false,
        };
        if !aud_ok {
            return refuse(format!("aud must be {aud:?}, the client id's host without port"));
        }
        let number = |name: &str| {
            claims[name]
                .as_i64()
                .ok_or_else(|| Refusal(format!("the assertion has no numeric {name}")))
        };
        let (exp, nbf, iat) = (number("exp")?, number("nbf")?, number("iat")?);
        let now = unix_now();
        if now > exp + SKEW_SECS {
            return refuse("the assertion has expired");
        }
        if now + SKEW_SECS < nbf {
            return refuse("the assertion is not valid yet");
        }
        if exp - iat > MAX_LIFETIME_SECS {
            return refuse("the assertion lives longer than 5 minutes");
        }
        Ok(())
    }
}

/// A fresh opaque access token.
pub fn access_token() -> anyhow::Result<String> {
    Ok(format!("fakec1-{}", hex(&random_bytes::<24>()?)))
}

/// How long an issued token lives by default (the docs' example value).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(600);
