//! The `c1.connectorapi.baton.v1.BatonService` client: tonic over rustls TLS, with the bearer
//! token of [`super::auth::TokenSource`] on every call.
//!
//! Trust is the system's roots plus the certificates in `SSL_CERT_FILE` (as Go's
//! `x509.SystemCertPool` reads that variable), so a test CA works without any switch that
//! turns verification off; there is none. The channel is made once and reconnects by itself.

use std::fmt;
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request};

use super::auth::{AuthError, TokenSource};
use super::pb;

/// A failed call, with any text the server sent scrubbed of the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: Code,
    pub message: String,
    /// The token could not be had: the call was never sent.
    pub auth: Option<AuthError>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.auth {
            Some(auth) => write!(f, "{auth}"),
            None => write!(f, "{} ({:?})", self.message, self.code),
        }
    }
}

impl std::error::Error for RpcError {}

/// The PEM certificates `SSL_CERT_FILE` names, if it is set. A named file that cannot be read
/// or holds no certificate is an error: trusting less than asked would fail later, obscurely.
pub fn ssl_cert_file() -> Result<Option<(String, Vec<u8>)>, String> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let shown = path.to_string_lossy().into_owned();
    let pem = std::fs::read(&path).map_err(|e| format!("cannot read SSL_CERT_FILE {shown}: {e}"))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!("SSL_CERT_FILE {shown} holds no PEM certificate"));
    }
    Ok(Some((shown, pem)))
}

/// The BatonService client of one daemon.
#[derive(Debug)]
pub struct BatonClient {
    channel: Channel,
    tokens: TokenSource,
}

impl BatonClient {
    /// `api_host` is `host` or `host:port` (443 when no port); `extra_ca` the PEM of
    /// `SSL_CERT_FILE`.
    pub fn new(api_host: &str, user_agent: &str, tokens: TokenSource, extra_ca: Option<&[u8]>) -> Result<Self, String> {
        let (host, port) = split_host_port(api_host);
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let uri = format!("https://{authority}");
        let tls = |native: bool| {
            let mut tls = ClientTlsConfig::new().domain_name(host.clone()).with_webpki_roots();
            if native {
                tls = tls.with_native_roots();
            }
            if let Some(pem) = extra_ca {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            tls
        };
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| format!("{api_host} is not a usable ConductorOne address: {e}"))?
            .user_agent(user_agent.to_owned())
            .map_err(|e| format!("bad user agent: {e}"))?
            .connect_timeout(Duration::from_secs(30))
            .tcp_keepalive(Some(Duration::from_secs(60)));
        // A machine without a system store (a bare container) still has the bundled roots
        // and SSL_CERT_FILE.
        let endpoint = match endpoint.clone().tls_config(tls(true)) {
            Ok(e) => e,
            Err(_) => endpoint
                .tls_config(tls(false))
                .map_err(|e| format!("cannot set up TLS for {uri}: {e}"))?,
        };
        Ok(Self {
            channel: endpoint.connect_lazy(),
            tokens,
        })
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    async fn request<T>(&self, message: T) -> Result<(Request<T>, String), RpcError> {
        let token = self.tokens.token().await.map_err(|e| RpcError {
            code: Code::Unauthenticated,
            message: e.to_string(),
            auth: Some(e),
        })?;
        let mut request = Request::new(message);
        let mut value = MetadataValue::try_from(token.header_value()).map_err(|_| RpcError {
            code: Code::Unauthenticated,
            message: "the access token is not a valid header value".into(),
            auth: None,
        })?;
        value.set_sensitive(true);
        request.metadata_mut().insert("authorization", value);
        Ok((request, token.expose().to_owned()))
    }

    fn failed(status: &tonic::Status, token: &str) -> RpcError {
        let mut message = status.message().to_owned();
        if !token.is_empty() {
            message = message.replace(token, "[redacted]");
        }
        if message.is_empty() {
            message = status.code().description().to_owned();
        }
        RpcError {
            code: status.code(),
            message,
            auth: None,
        }
    }

    /// A gRPC client on the channel, ready to send, and the path of BatonService's `method`.
    async fn ready(&self, method: &str) -> Result<(tonic::client::Grpc<Channel>, PathAndQuery), RpcError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| RpcError {
            code: Code::Unavailable,
            message: format!("ConductorOne is not reachable: {}", super::auth::root_cause(&e)),
            auth: None,
        })?;
        let path = PathAndQuery::from_maybe_shared(format!("/{}/{method}", pb::SERVICE)).map_err(|e| RpcError {
            code: Code::Internal,
            message: e.to_string(),
            auth: None,
        })?;
        Ok((grpc, path))
    }

    async fn unary<Q, R>(&self, method: &'static str, message: Q) -> Result<R, RpcError>
    where
        Q: prost::Message + Send + Sync + 'static,
        R: prost::Message + Default + Send + Sync + 'static,
    {
        let (request, token) = self.request(message).await?;
        let (mut grpc, path) = self.ready(method).await?;
        let codec = tonic_prost::ProstCodec::<Q, R>::default();
        grpc.unary(request, path, codec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Self::failed(&s, &token))
    }

    pub async fn hello(&self, request: pb::HelloRequest) -> Result<pb::HelloResponse, RpcError> {
        self.unary("Hello", request).await
    }

    pub async fn get_task(&self, request: pb::GetTaskRequest) -> Result<pb::GetTaskResponse, RpcError> {
        self.unary("GetTask", request).await
    }

    pub async fn heartbeat(&self, request: pb::HeartbeatRequest) -> Result<pb::HeartbeatResponse, RpcError> {
        self.unary("Heartbeat", request).await
    }

    pub async fn finish_task(&self, request: pb::FinishTaskRequest) -> Result<pb::FinishTaskResponse, RpcError> {
        self.unary("FinishTask", request).await
    }

    /// One `UploadAsset` client stream of `messages`.
    pub async fn upload_asset<S>(&self, messages: S) -> Result<pb::UploadAssetResponse, RpcError>
    where
        S: futures_util::Stream<Item = pb::UploadAssetRequest> + Send + 'static,
    {
        let (request, token) = self.request(messages).await?;
        let (mut grpc, path) = self.ready("UploadAsset").await?;
        let codec = tonic_prost::ProstCodec::<pb::UploadAssetRequest, pb::UploadAssetResponse>::default();
        grpc.client_streaming(request, path, codec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Self::failed(&s, &token))
    }
}

/// `host:port` → (host, port); no port → 443. Brackets come off an IPv6 address.
pub fn split_host_port(api_host: &str) -> (String, u16) {
    if let Some(inner) = api_host.strip_prefix('[') {
        if let Some((host, rest)) = inner.split_once(']') {
            let port = rest.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(443);
            return (host.to_owned(), port);
        }
    }
    match api_host.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host.to_owned(), p),
            Err(_) => (api_host.to_owned(), 443),
        },
        _ => (api_host.to_owned(), 443),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            split_host_port("acme.conductor.one"),
            ("acme.conductor.one".into(), 443)
        );
        assert_eq!(split_host_port("127.0.0.1:8443"), ("127.0.0.1".into(), 8443));
        assert_eq!(split_host_port("[::1]:9"), ("::1".into(), 9));
        assert_eq!(split_host_port("[::1]"), ("::1".into(), 443));
    }

    #[test]
    fn a_server_echoing_the_token_has_it_scrubbed() {
        let status = tonic::Status::permission_denied("token tok-123 is not allowed");
        let e = BatonClient::failed(&status, "tok-123");
        assert_eq!(e.code, Code::PermissionDenied);
        assert!(!e.to_string().contains("tok-123"), "{e}");
    }
}
