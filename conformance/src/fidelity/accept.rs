//! Accepted departures: a JSON file of known differences between a recording and the
//! emulation, each with the path it applies to and the reason it is accepted.
//!
//! ```json
//! { "accepted": [
//!   { "path": "$.Resources[*].photos", "request": "GET /Users*",
//!     "reason": "the capture's photo URLs were dropped when it was anonymised" } ] }
//! ```
//!
//! `path` is a departure's path as `fidelity` prints it (`status`, `header:content-type`,
//! `$.meta.location`); `request`, optional, is the request as printed (`GET /Users?count=150`).
//! Both may use `*` for any run of characters.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptFile {
    pub accepted: Vec<Accepted>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub reason: String,
}

/// `*` matches any run of characters; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl AcceptFile {
    pub fn load(path: &Path) -> anyhow::Result<AcceptFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file: AcceptFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an accepted-departures file", path.display()))?;
        for a in &file.accepted {
            if a.reason.trim().is_empty() {
                bail!("{}: the accepted departure {} gives no reason", path.display(), a.path);
            }
        }
        Ok(file)
    }

    /// The entry that accepts a departure at `path` of `request`, if any.
    pub fn find(&self, request: &str, path: &str) -> Option<usize> {
        self.accepted
            .iter()
            .position(|a| glob(&a.path, path) && a.request.as_deref().is_none_or(|r| glob(r, request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("$.Resources[*].meta", "$.Resources[*].meta"));
        assert!(glob("GET /Users*", "GET /Users?count=1"));
        assert!(glob("*.location", "$.meta.location"));
        assert!(glob("$.*.x*", "$.a.b.xy"));
        assert!(!glob("GET /Users*", "POST /Users"));
        assert!(!glob("$.a", "$.ab"));
    }
}
