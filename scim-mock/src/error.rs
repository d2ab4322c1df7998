//! Every error the emulation answers with, mapped to a response in one place.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::quirks::{ErrorDialect, ResponseContentType};

/// An error answer. Each variant names its status and RFC 7644 `scimType`; the body's dialect
/// is chosen by [`crate::Quirks::error_dialect`] when the response is rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    /// 400 `invalidSyntax`: the body is not JSON, or not the JSON object the endpoint takes.
    #[error("{0}")]
    InvalidSyntax(String),
    /// 400 `invalidFilter`: a filter that does not parse or is outside Notion's vocabulary.
    #[error("{0}")]
    InvalidFilter(String),
    /// 400 `invalidPath`: a PATCH path that does not parse or names no writable attribute.
    #[error("{0}")]
    InvalidPath(String),
    /// 400 `invalidValue`: a value of the wrong type, a missing required attribute, an unknown
    /// role, a group member that is not a workspace member.
    #[error("{0}")]
    InvalidValue(String),
    /// 400 `noTarget`: a PATCH path whose filter matched nothing.
    #[error("{0}")]
    NoTarget(String),
    /// 401 (or the status of [`crate::Quirks::auth_failure_status`]): no token, a wrong one or
    /// a revoked one.
    #[error("{detail}")]
    Unauthorized { status: u16, detail: String },
    /// 403 by default: a refusal with a reason (token creator, unverified domain, plan).
    #[error("{detail}")]
    Forbidden { status: u16, detail: String },
    /// 404: no such resource in this workspace, or no such endpoint.
    #[error("{0}")]
    NotFound(String),
    /// 405: the endpoint exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409 `uniqueness`: the person is already a member, the email is taken.
    #[error("{0}")]
    Uniqueness(String),
    /// 409 by default: a refused group deletion.
    #[error("{detail}")]
    Conflict { status: u16, detail: String },
    /// 413 `tooLarge`: a body over Notion's 500 KB cap.
    #[error("{0}")]
    TooLarge(String),
    /// 429: the token's rate limit; the response carries an integer `Retry-After`.
    #[error("rate limited: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 501: an endpoint Notion does not offer.
    #[error("{0}")]
    NotImplemented(String),
    /// Any status a fault asks for (500, 502, 503, 529 ...).
    #[error("injected fault: status {0}")]
    Injected(u16),
}

impl ScimError {
    pub fn status(&self) -> u16 {
        match self {
            ScimError::InvalidSyntax(_)
            | ScimError::InvalidFilter(_)
            | ScimError::InvalidPath(_)
            | ScimError::InvalidValue(_)
            | ScimError::NoTarget(_) => 400,
            ScimError::Unauthorized { status, .. }
            | ScimError::Forbidden { status, .. }
            | ScimError::Conflict { status, .. } => *status,
            ScimError::NotFound(_) => 404,
            ScimError::MethodNotAllowed(_) => 405,
            ScimError::Uniqueness(_) => 409,
            ScimError::TooLarge(_) => 413,
            ScimError::RateLimited { .. } => 429,
            ScimError::NotImplemented(_) => 501,
            ScimError::Injected(s) => *s,
        }
    }

    /// RFC 7644 §3.12's `scimType`, where one applies.
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            ScimError::InvalidSyntax(_) => Some("invalidSyntax"),
            ScimError::InvalidFilter(_) => Some("invalidFilter"),
            ScimError::InvalidPath(_) => Some("invalidPath"),
            ScimError::InvalidValue(_) => Some("invalidValue"),
            ScimError::NoTarget(_) => Some("noTarget"),
            ScimError::Uniqueness(_) => Some("uniqueness"),
            ScimError::TooLarge(_) => Some("tooLarge"),
            _ => None,
        }
    }

    /// The `code` Notion's public API uses for the same situation.
    fn notion_code(&self) -> &'static str {
        match self.status() {
            400 | 413 => match self {
                ScimError::InvalidSyntax(_) => "invalid_json",
                _ => "validation_error",
            },
            401 => "unauthorized",
            403 => "restricted_resource",
            404 => "object_not_found",
            409 => "conflict_error",
            429 => "rate_limited",
            501 | 405 => "invalid_request_url",
            502 => "bad_gateway",
            503 => "service_unavailable",
            529 => "service_overload",
            _ => "internal_server_error",
        }
    }

    /// Renders the error in a dialect.
    pub fn render(&self, dialect: ErrorDialect, content_type: ResponseContentType) -> Response {
        let status = self.status();
        let detail = self.to_string();
        let body = match dialect {
            ErrorDialect::Rfc => {
                let mut b = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": status.to_string(),
                    "detail": detail,
                });
                if let (Some(t), Some(obj)) = (self.scim_type(), b.as_object_mut()) {
                    obj.insert("scimType".into(), t.into());
                }
                b
            }
            ErrorDialect::Notion => json!({
                "object": "error",
                "status": status,
                "code": self.notion_code(),
                "message": detail,
            }),
        };
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, body.to_string()).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type.mime()),
        );
        if let ScimError::RateLimited { retry_after_secs } = self {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        resp
    }
}
