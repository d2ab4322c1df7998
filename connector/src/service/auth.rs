//! The client-credentials exchange with ConductorOne, as baton-sdk does it.
//!
//! An EdDSA-signed JWT (the client assertion: `iss` = `sub` = the client id, `aud` = the client
//! id's host without port, `exp` = now + 2 min, `nbf` = now − 2 min, `iat` = now; header `alg`,
//! a 16-byte hex `nonce`, and `kid` only when the secret's key has one) is posted form-encoded
//! to `https://<host>/auth/v1/token`, and the answer's bearer token is cached until 10 seconds
//! before it expires, then fetched again on the next call that needs it.
//!
//! Nothing here logs or returns the secret, the assertion, the access token or the token
//! endpoint's body: a refused exchange is reported by its HTTP status alone.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use super::credentials::{ClientId, ClientSecret};
use crate::secret::Secret;

/// How long an assertion is valid on either side of now.
pub const ASSERTION_SKEW: Duration = Duration::from_secs(120);
/// A cached token is replaced this long before it expires (oauth2's `defaultExpiryDelta`).
pub const EXPIRY_DELTA: Duration = Duration::from_secs(10);
const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const USER_AGENT: &str = "baton-c1-credential-provider";

/// The signed client assertion, a compact JWS. `now` is Unix seconds; `nonce` 16 random bytes.
pub fn client_assertion(id: &ClientId, key: &ClientSecret, now: u64, nonce: [u8; 16]) -> String {
    let nonce_hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let mut header = json!({ "alg": "EdDSA", "nonce": nonce_hex });
    if let (Some(kid), Some(map)) = (key.key_id(), header.as_object_mut()) {
        map.insert("kid".into(), json!(kid));
    }
    let skew = ASSERTION_SKEW.as_secs();
    let claims = json!({
        "iss": id.as_str(),
        "sub": id.as_str(),
        "aud": id.audience(),
        "exp": now + skew,
        "nbf": now.saturating_sub(skew),
        "iat": now,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Why no token could be had. No variant holds a secret or a server's body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("cannot reach ConductorOne's token endpoint {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("ConductorOne refused the client credentials: {url} answered HTTP {status} (check --client-id and --client-secret)")]
    Refused { url: String, status: u16 },
    #[error("ConductorOne's token endpoint {url} answered without a usable token: {detail}")]
    BadAnswer { url: String, detail: String },
}

/// A bearer token and when it stops being usable.
#[derive(Clone)]
pub struct AccessToken {
    value: Secret,
    token_type: String,
    expires_at: Instant,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &self.value)
            .field("token_type", &self.token_type)
            .finish()
    }
}

impl AccessToken {
    /// The `authorization` metadata value: `Bearer <token>` (oauth2's `Type()`: any spelling of
    /// bearer, or none, is `Bearer`; another type passes through).
    pub fn header_value(&self) -> String {
        let kind = if self.token_type.is_empty() || self.token_type.eq_ignore_ascii_case("bearer") {
            "Bearer"
        } else {
            self.token_type.as_str()
        };
        format!("{kind} {}", self.value.expose())
    }

    /// The token's text, for scrubbing it out of what a server sends back.
    pub fn expose(&self) -> &str {
        self.value.expose()
    }

    /// Whether the token is still good for a call made now.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now + EXPIRY_DELTA < self.expires_at
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: i64,
}

/// Fetches and caches ConductorOne access tokens.
#[derive(Debug)]
pub struct TokenSource {
    http: reqwest::Client,
    url: String,
    client_id: ClientId,
    key: ClientSecret,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
}

impl TokenSource {
    /// `api_host` is `BATON_C1_API_HOST` or the client id's host; `extra_roots` the PEM
    /// certificates of `SSL_CERT_FILE`, trusted beside the system's.
    pub fn new(
        api_host: &str,
        client_id: ClientId,
        key: ClientSecret,
        extra_roots: &[reqwest::Certificate],
    ) -> Result<Self, AuthError> {
        let url = format!("https://{api_host}/auth/v1/token");
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(60));
        for cert in extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        let http = builder.build().map_err(|e| AuthError::Unreachable {
            url: url.clone(),
            detail: format!("cannot set up the HTTPS client: {e}"),
        })?;
        Ok(Self {
            http,
            url,
            client_id,
            key,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh token: the cached one, or a new one when it is within 10 s of expiring.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.is_fresh(Instant::now())) {
            return Ok(token.clone());
        }
        let token = self.exchange().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn exchange(&self) -> Result<AccessToken, AuthError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let nonce: [u8; 16] = rand::random();
        let assertion = client_assertion(&self.client_id, &self.key, now, nonce);
        let form = [
            ("client_id", self.client_id.as_str()),
            ("grant_type", GRANT_TYPE),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        let asked = Instant::now();
        let answer = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AuthError::Unreachable {
                url: self.url.clone(),
                detail: root_cause(&e),
            })?;
        let status = answer.status().as_u16();
        if status != 200 {
            return Err(AuthError::Refused {
                url: self.url.clone(),
                status,
            });
        }
        let bad = |detail: &str| AuthError::BadAnswer {
            url: self.url.clone(),
            detail: detail.to_owned(),
        };
        let body = answer.bytes().await.map_err(|_| bad("the answer broke off"))?;
        let parsed: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| bad("the answer is not the expected JSON object"))?;
        if parsed.access_token.is_empty() {
            return Err(bad("access_token is empty"));
        }
        let lifetime = Duration::from_secs(u64::try_from(parsed.expires_in).unwrap_or(0));
        tracing::debug!(expires_in = parsed.expires_in, "ConductorOne access token obtained");
        Ok(AccessToken {
            value: Secret::new(parsed.access_token),
            token_type: parsed.token_type,
            expires_at: asked + lifetime,
        })
    }
}

/// The innermost cause of an error ("connection refused", "invalid peer certificate: ..."),
/// which says more than reqwest's outer "error sending request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::credentials::encode_client_secret;

    fn decode_json(part: &str) -> serde_json::Value {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    #[test]
    fn the_assertion_verifies_and_carries_the_sdks_claims() {
        let secret = encode_client_secret("fixture", "fixture", &[3; 32]);
        let Some(Ok(key)) = secret.as_ref().map(ClientSecret::parse) else {
            unreachable!("fresh secret")
        };
        let Ok(id) = ClientId::parse("rollback@acme.conductor.one:8443/test") else {
            unreachable!("good id")
        };
        let jws = client_assertion(&id, &key, 1_800_000_000, [0xab; 16]);
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3, "{jws}");
        let header = decode_json(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["nonce"], "ab".repeat(16));
        assert!(header.get("kid").is_none() && header.get("typ").is_none(), "{header}");
        let claims = decode_json(parts[1]);
        assert_eq!(claims["iss"], "rollback@acme.conductor.one:8443/test");
        assert_eq!(claims["sub"], claims["iss"]);
        assert_eq!(claims["aud"], "acme.conductor.one");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_000_120u64);
        assert_eq!(claims["nbf"], 1_799_999_880u64);
        assert!(claims.get("jti").is_none());

        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.public_key());
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(signed.as_bytes(), &signature).is_ok());
        // A changed claim no longer verifies.
        let forged = format!(
            "{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string().replace("acme", "evil"))
        );
        assert!(public.verify(forged.as_bytes(), &signature).is_err());
        // Nothing of the private key is in the assertion.
        let d = URL_SAFE_NO_PAD.encode([3u8; 32]);
        assert!(!jws.contains(&d));
    }

    #[test]
    fn tokens_are_reused_until_ten_seconds_before_expiry() {
        let now = Instant::now();
        let token = |secs: u64| AccessToken {
            value: Secret::new("tok"),
            token_type: "bearer".into(),
            expires_at: now + Duration::from_secs(secs),
        };
        assert!(token(600).is_fresh(now));
        assert!(token(11).is_fresh(now));
        assert!(!token(10).is_fresh(now));
        assert!(!token(0).is_fresh(now));
        assert_eq!(token(5).header_value(), "Bearer tok");
        let mac = AccessToken {
            token_type: "MAC".into(),
            ..token(5)
        };
        assert_eq!(mac.header_value(), "MAC tok");
        assert!(!format!("{:?}", token(5)).contains("tok\""));
    }
}
