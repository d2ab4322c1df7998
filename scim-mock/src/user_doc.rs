//! A user as a JSON document, for POST, PUT and PATCH: the model shown as SCIM JSON, patched
//! or replaced, then read back and validated as a whole. A request that fails validation
//! changes nothing.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::model::{Account, Member, PersonName, Role};
use crate::patch::{get_ci, AttrDef, Schema};
use crate::resource::{ENTERPRISE_USER_EXT, NOTION_USER_EXT, USER_SCHEMA};

const ADDRESS_SUBS: &[&str] = &[
    "formatted",
    "streetAddress",
    "locality",
    "region",
    "postalCode",
    "country",
    "type",
    "primary",
];
const PLURAL_SUBS: &[&str] = &["value", "display", "type", "primary"];

/// What PATCH may name on a user [N]: the core attributes Notion lists as writable, its role
/// extension and the enterprise extension. `externalId`, sent by Entra, is accepted and dropped.
pub(crate) static USER_SCHEMA_DEF: Schema = Schema {
    core_urn: USER_SCHEMA,
    core: &[
        AttrDef::simple("userName"),
        AttrDef::complex("name", &["formatted", "givenName", "familyName"]),
        AttrDef::simple("displayName"),
        AttrDef::multi("emails", PLURAL_SUBS),
        AttrDef::simple("active"),
        AttrDef::simple("title"),
        AttrDef::multi("phoneNumbers", PLURAL_SUBS),
        AttrDef::multi("addresses", ADDRESS_SUBS),
        AttrDef::multi("roles", PLURAL_SUBS),
        AttrDef::simple("locale"),
        AttrDef::simple("preferredLanguage"),
        AttrDef::simple("userType"),
        AttrDef::simple("externalId"),
    ],
    extensions: &[
        (NOTION_USER_EXT, &[AttrDef::simple("role")]),
        (
            ENTERPRISE_USER_EXT,
            &[
                AttrDef::simple("employeeNumber"),
                AttrDef::simple("costCenter"),
                AttrDef::simple("organization"),
                AttrDef::simple("division"),
                AttrDef::simple("department"),
                AttrDef::complex("manager", &["value", "displayName"]),
            ],
        ),
    ],
};

/// Optional string attributes kept on the account as given.
const STRING_ATTRS: &[&str] = &["title", "locale", "preferredLanguage", "userType"];
/// Optional attributes that PUT clears when omitted (with the quirk on).
pub(crate) const CLEARABLE: &[&str] = &[
    "title",
    "phoneNumbers",
    "addresses",
    "roles",
    "locale",
    "preferredLanguage",
    "userType",
    ENTERPRISE_USER_EXT,
];

/// A user read back from a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserInput {
    pub email: String,
    pub name: PersonName,
    pub secondary_email: Option<String>,
    pub active: bool,
    /// `None` when the document has no role.
    pub role: Option<Role>,
    pub photo: Option<String>,
    pub attributes: Map<String, Value>,
}

/// The document of an existing user.
pub(crate) fn to_doc(account: &Account, member: &Member) -> Map<String, Value> {
    let view = crate::resource::UserView { account, member };
    let mut doc = match serde_json::to_value(&view) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in ["schemas", "id", "meta", "photos"] {
        doc.remove(k);
    }
    doc
}

fn string(v: &Value, what: &str) -> Result<String, ScimError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ScimError::InvalidValue(format!("{what} must be a string")))
}

fn opt_string(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, ScimError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, what).map(Some),
    }
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !email.chars().any(char::is_whitespace) && !domain.contains('@')
}

/// Reads `active` as a boolean or as the strings Entra sends ("True"/"False").
pub(crate) fn read_active(v: &Value) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::InvalidValue(format!(
            "active must be a boolean or \"True\"/\"False\", got {other}"
        ))),
    }
}

/// Reads and validates a whole user document. `previous` is the document before a change,
/// used to see which part of the name (if any) the change touched.
pub(crate) fn read(doc: &Map<String, Value>, previous: Option<&Map<String, Value>>) -> Result<UserInput, ScimError> {
    let email = match get_ci(doc, "userName") {
        Some(v) => string(v, "userName")?.trim().to_lowercase(),
        None => {
            return Err(ScimError::InvalidValue(
                "userName (the member's email) is required".into(),
            ))
        }
    };
    if !valid_email(&email) {
        return Err(ScimError::InvalidValue(format!(
            "userName must be an email address, got {email:?}"
        )));
    }
    let name = match get_ci(doc, "name") {
        None | Some(Value::Null) => PersonName::default(),
        Some(Value::Object(n)) => read_name(n)?,
        Some(_) => return Err(ScimError::InvalidValue("name must be an object".into())),
    };
    let display = opt_string(doc, "displayName", "displayName")?;
    let name = match previous {
        None => new_name(name, display),
        Some(p) => {
            let old = match get_ci(p, "name") {
                Some(Value::Object(n)) => read_name(n)?,
                _ => PersonName::default(),
            };
            let display_changed = get_ci(p, "displayName") != get_ci(doc, "displayName");
            changed_name(&old, name, display.filter(|_| display_changed))
        }
    };
    let mut secondary_email = None;
    match get_ci(doc, "emails") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let value = item.get("value").map(|v| string(v, "emails[].value")).transpose()?;
                let primary = item.get("primary").is_some_and(|p| p == &Value::Bool(true));
                if let Some(v) = value.map(|v| v.trim().to_lowercase()) {
                    if !primary && v != email && secondary_email.is_none() {
                        if !valid_email(&v) {
                            return Err(ScimError::InvalidValue(format!("{v:?} is not an email address")));
                        }
                        secondary_email = Some(v);
                    }
                }
            }
        }
        Some(_) => return Err(ScimError::InvalidValue("emails must be an array".into())),
    }
    let active = match get_ci(doc, "active") {
        None | Some(Value::Null) => true,
        Some(v) => read_active(v)?,
    };
    let role = match get_ci(doc, NOTION_USER_EXT) {
        None | Some(Value::Null) => None,
        Some(Value::Object(ext)) => match get_ci(ext, "role") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => Some(r.parse::<Role>().map_err(ScimError::InvalidValue)?),
            Some(other) => return Err(ScimError::InvalidValue(format!("role must be a string, got {other}"))),
        },
        Some(_) => return Err(ScimError::InvalidValue(format!("{NOTION_USER_EXT} must be an object"))),
    };
    let photo = match get_ci(doc, "photos") {
        Some(Value::Array(items)) => items
            .iter()
            .find_map(|p| p.get("value").and_then(Value::as_str))
            .map(str::to_string),
        _ => None,
    };
    let mut attributes = Map::new();
    for key in STRING_ATTRS {
        if let Some(v) = opt_string(doc, key, key)? {
            attributes.insert((*key).to_string(), Value::String(v));
        }
    }
    if let Some(phone) = read_phone(doc)? {
        attributes.insert("phoneNumbers".into(), Value::Array(vec![phone]));
    }
    for key in ["addresses", "roles"] {
        match get_ci(doc, key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
                if !items.is_empty() {
                    attributes.insert(key.to_string(), Value::Array(items.clone()));
                }
            }
            Some(_) => return Err(ScimError::InvalidValue(format!("{key} must be an array of objects"))),
        }
    }
    if let Some(ext) = read_enterprise(doc)? {
        attributes.insert(ENTERPRISE_USER_EXT.to_string(), Value::Object(ext));
    }
    Ok(UserInput {
        email,
        name,
        secondary_email,
        active,
        role,
        photo,
        attributes,
    })
}

fn read_name(n: &Map<String, Value>) -> Result<PersonName, ScimError> {
    Ok(PersonName {
        formatted: opt_string(n, "formatted", "name.formatted")?,
        given: opt_string(n, "givenName", "name.givenName")?,
        family: opt_string(n, "familyName", "name.familyName")?,
    })
}

/// Given and family name as one string, when there is any.
fn joined(given: &Option<String>, family: &Option<String>) -> Option<String> {
    match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
    }
}

/// The name of a new user: given and family without `formatted` make it; a `displayName` is
/// the name only when the request gives no other.
fn new_name(mut name: PersonName, display: Option<String>) -> PersonName {
    if name.formatted.is_none() && name.given.is_some() && name.family.is_some() {
        name.formatted = joined(&name.given, &name.family);
    }
    match display {
        Some(d) if name == PersonName::default() => PersonName {
            formatted: Some(d),
            ..PersonName::default()
        },
        _ => name,
    }
}

/// The name after a change. Notion stores one name [N], so one change must leave one
/// consistent name: a change of the parts rewrites `formatted`; a new `formatted` (or a new
/// `displayName`, which is the same name) replaces the whole, keeping the parts only where
/// they still spell it. Otherwise the old given name would go on matching `given_name`
/// filters under a name the record no longer shows. `display` is the `displayName` when the
/// request changed it.
fn changed_name(old: &PersonName, mut name: PersonName, display: Option<String>) -> PersonName {
    let formatted_changed = name.formatted != old.formatted;
    let parts_changed = name.given != old.given || name.family != old.family;
    if !formatted_changed && !parts_changed {
        // The name is as it was: only a new displayName can rename the person.
        let Some(d) = display else {
            return name;
        };
        name.formatted = Some(d);
    } else if !formatted_changed || name.formatted.is_none() {
        // The parts changed (or `formatted` was removed): they make the whole.
        if let Some(whole) = joined(&name.given, &name.family) {
            name.formatted = Some(whole);
        }
        return name;
    }
    if joined(&name.given, &name.family) != name.formatted {
        name.given = None;
        name.family = None;
    }
    name
}

/// Notion keeps one phone number: the primary, else the first with a value; its type stays.
fn read_phone(doc: &Map<String, Value>) -> Result<Option<Value>, ScimError> {
    let items = match get_ci(doc, "phoneNumbers") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::InvalidValue("phoneNumbers must be an array".into())),
    };
    let has_value = |p: &&Value| p.get("value").and_then(Value::as_str).is_some_and(|v| !v.is_empty());
    let chosen = items
        .iter()
        .filter(has_value)
        .find(|p| p.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| items.iter().find(has_value));
    Ok(chosen.map(|p| {
        let mut kept = Map::new();
        if let Some(v) = p.get("value") {
            kept.insert("value".into(), v.clone());
        }
        if let Some(t) = p.get("type") {
            kept.insert("type".into(), t.clone());
        }
        Value::Object(kept)
    }))
}

fn read_enterprise(doc: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ScimError> {
    let ext = match get_ci(doc, ENTERPRISE_USER_EXT) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(ext)) => ext,
        Some(_) => {
            return Err(ScimError::InvalidValue(format!(
                "{ENTERPRISE_USER_EXT} must be an object"
            )))
        }
    };
    let mut kept = Map::new();
    for key in ["employeeNumber", "costCenter", "organization", "division", "department"] {
        if let Some(v) = opt_string(ext, key, key)? {
            kept.insert(key.to_string(), Value::String(v));
        }
    }
    match get_ci(ext, "manager") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            // Notion's manager is an email, not an id [N].
            if let Some(v) = opt_string(m, "value", "manager.value")? {
                kept.insert("manager".into(), serde_json::json!({ "value": v }));
            }
        }
        Some(Value::String(v)) => {
            kept.insert("manager".into(), serde_json::json!({ "value": v }));
        }
        Some(_) => return Err(ScimError::InvalidValue("manager must be an object with a value".into())),
    }
    Ok((!kept.is_empty()).then_some(kept))
}
