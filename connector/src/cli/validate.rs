//! `baton-notion validate`: one real, cheap call that says plainly whether the token works.

use std::fmt;

use crate::scim::client::{ScimClient, ScimError};

/// The verdict, one line each.
#[derive(Debug)]
pub enum Validation {
    Valid { users: Option<u64> },
    Rejected,
    Forbidden,
    Unreachable(String),
    Failed(String),
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        matches!(self, Validation::Valid { .. })
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validation::Valid { users: Some(n) } => {
                write!(f, "valid: the SCIM token works; the workspace lists {n} users")
            }
            Validation::Valid { users: None } => write!(f, "valid: the SCIM token works"),
            Validation::Rejected => write!(f, "invalid: {}", ScimError::Unauthorized),
            Validation::Forbidden => write!(f, "forbidden: {}", ScimError::Forbidden),
            Validation::Unreachable(d) => write!(f, "unreachable: {d}"),
            Validation::Failed(d) => write!(f, "failed: {d}"),
        }
    }
}

/// `GET /Users?startIndex=1&count=1`, with the client's retries for passing faults.
pub async fn validate(client: &ScimClient) -> Validation {
    match client.check_token().await {
        Ok(users) => Validation::Valid { users },
        Err(ScimError::Unauthorized) => Validation::Rejected,
        Err(ScimError::Forbidden) => Validation::Forbidden,
        Err(e) if e.is_unreachable() => Validation::Unreachable(e.to_string()),
        Err(e) => Validation::Failed(e.to_string()),
    }
}
