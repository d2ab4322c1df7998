//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON document, with the forms Notion's
//! clients send: case-insensitive `op`, no-path value objects (`{"op":"replace","value":
//! {"active":false}}`), URN-qualified paths, `members[value eq "..."]`, and removal of
//! `members` with a `value` array.
//!
//! The engine only moves JSON around and checks paths against a [`Schema`]; the endpoint that
//! calls it turns the patched document back into the model and validates values there, so a
//! request either applies whole or not at all.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::patch_path::PatchPath;

/// An attribute a resource type accepts in PATCH.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttrDef {
    pub name: &'static str,
    pub multi: bool,
    /// Sub-attributes of a complex attribute (empty for simple ones).
    pub subs: &'static [&'static str],
}

impl AttrDef {
    pub const fn simple(name: &'static str) -> Self {
        AttrDef {
            name,
            multi: false,
            subs: &[],
        }
    }
    pub const fn complex(name: &'static str, subs: &'static [&'static str]) -> Self {
        AttrDef {
            name,
            multi: false,
            subs,
        }
    }
    pub const fn multi(name: &'static str, subs: &'static [&'static str]) -> Self {
        AttrDef {
            name,
            multi: true,
            subs,
        }
    }
}

/// The attributes of a resource type: the core schema's and each extension's (which live in
/// the document under their URN).
#[derive(Debug)]
pub(crate) struct Schema {
    pub core_urn: &'static str,
    pub core: &'static [AttrDef],
    pub extensions: &'static [(&'static str, &'static [AttrDef])],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub(crate) fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("a PATCH body is a JSON object".into()))?;
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::InvalidSyntax("a PATCH body needs an \"Operations\" array".into()))?;
    ops.iter().map(parse_operation).collect()
}

fn parse_operation(raw: &Value) -> Result<Operation, ScimError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("each operation is a JSON object".into()))?;
    let op_text = get_ci(obj, "op").and_then(Value::as_str).unwrap_or_default();
    let op = match op_text.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "replace" => OpKind::Replace,
        "remove" => OpKind::Remove,
        _ => {
            return Err(ScimError::InvalidSyntax(format!(
                "unknown PATCH op {op_text:?}: expected add, replace or remove"
            )))
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse::<PatchPath>()
                .map_err(|e| ScimError::InvalidPath(format!("bad path {s:?}: {e}")))?,
        ),
        Some(_) => return Err(ScimError::InvalidPath("\"path\" must be a string".into())),
    };
    let value = get_ci(obj, "value").cloned();
    match (op, &path, &value) {
        (OpKind::Remove, None, _) => Err(ScimError::NoTarget("a remove operation needs a path".into())),
        (OpKind::Add | OpKind::Replace, _, None) => Err(ScimError::InvalidValue(format!("{op_text} needs a value"))),
        (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => Err(ScimError::InvalidValue(
            "an operation without a path needs an object value".into(),
        )),
        _ => Ok(Operation { op, path, value }),
    }
}

/// Looks a key up case-insensitively (RFC 7643: attribute names are case-insensitive).
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Applies operations in order to `doc`.
pub(crate) fn apply(doc: &mut Map<String, Value>, ops: &[Operation], schema: &Schema) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => apply_at(doc, op.op, path, op.value.as_ref(), schema)?,
            None => {
                let Some(Value::Object(fields)) = &op.value else {
                    continue;
                };
                for (key, value) in fields {
                    if let Some((urn, _)) = schema.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(key)) {
                        let Value::Object(inner) = value else {
                            return Err(ScimError::InvalidValue(format!("{key} must be an object")));
                        };
                        for (k, v) in inner {
                            let path = PatchPath {
                                attr: crate::filter::AttrPath {
                                    urn: Some((*urn).to_string()),
                                    name: k.clone(),
                                    sub_attr: None,
                                },
                                filter: None,
                                sub_attr: None,
                            };
                            apply_at(doc, op.op, &path, Some(v), schema)?;
                        }
                        continue;
                    }
                    let path: PatchPath = key
                        .parse()
                        .map_err(|e| ScimError::InvalidPath(format!("bad attribute {key:?}: {e}")))?;
                    apply_at(doc, op.op, &path, Some(value), schema)?;
                }
            }
        }
    }
    Ok(())
}

fn apply_at(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    schema: &Schema,
) -> Result<(), ScimError> {
    let (container_key, def) = resolve(path, schema)?;
    let container = match container_key {
        None => doc,
        Some(urn) => {
            let slot = doc.entry(urn.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot {
                Value::Object(m) => m,
                _ => return Err(ScimError::InvalidPath(format!("{urn} is not an object"))),
            }
        }
    };
    let key = def.name;
    if let Some(filter) = &path.filter {
        if !def.multi {
            return Err(ScimError::InvalidPath(format!(
                "{key} is not multi-valued: it takes no filter"
            )));
        }
        let sub = match &path.sub_attr {
            Some(s) => Some(sub_name(def, s)?),
            None => None,
        };
        return apply_filtered(container, key, filter, sub, op, value);
    }
    let sub = match &path.attr.sub_attr {
        Some(s) if def.multi => {
            return Err(ScimError::InvalidPath(format!(
                "{key}.{s}: name an element with a filter, as {key}[...].{s}"
            )))
        }
        Some(s) => Some(sub_name(def, s)?),
        None => None,
    };
    match (op, sub) {
        (OpKind::Remove, Some(sub)) => {
            if let Some(Value::Object(m)) = container.get_mut(key) {
                m.remove(sub);
            }
        }
        (OpKind::Remove, None) if def.multi => match value {
            // `{"op":"remove","path":"members","value":[{"value":"id"}]}`: remove just those.
            Some(v) => {
                let gone: Vec<Value> = as_elements(v)?.iter().filter_map(|e| e.get("value").cloned()).collect();
                if let Some(Value::Array(items)) = container.get_mut(key) {
                    items.retain(|item| {
                        item.get("value")
                            .is_none_or(|val| !gone.iter().any(|g| same_value(g, val)))
                    });
                }
            }
            None => {
                container.remove(key);
            }
        },
        (OpKind::Remove, None) => {
            container.remove(key);
        }
        (_, Some(sub)) => {
            let slot = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                m.insert(sub.to_string(), value.cloned().unwrap_or(Value::Null));
            }
        }
        (op, None) if def.multi => {
            let new = as_elements(value.unwrap_or(&Value::Null))?;
            let items = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if op == OpKind::Replace || !items.is_array() {
                *items = Value::Array(Vec::new());
            }
            if let Value::Array(items) = items {
                for e in new {
                    let dup = e
                        .get("value")
                        .is_some_and(|v| items.iter().any(|i| i.get("value").is_some_and(|iv| same_value(iv, v))));
                    if !dup {
                        items.push(e);
                    }
                }
            }
        }
        (_, None) => {
            let v = value.cloned().unwrap_or(Value::Null);
            match (container.get_mut(key), v) {
                // Complex attributes merge: sub-attributes not named are left unchanged.
                (Some(Value::Object(old)), Value::Object(new)) if !def.subs.is_empty() => {
                    for (k, v) in new {
                        let name = sub_name(def, &k)?;
                        old.insert(name.to_string(), v);
                    }
                }
                (_, v) => {
                    container.insert(key.to_string(), v);
                }
            }
        }
    }
    Ok(())
}

/// Finds the attribute a path names: `(None, def)` in the core schema, `(Some(urn), def)` in
/// an extension.
fn resolve(path: &PatchPath, schema: &Schema) -> Result<(Option<&'static str>, &'static AttrDef), ScimError> {
    let (container, defs) = match &path.attr.urn {
        None => (None, schema.core),
        Some(urn) if urn.eq_ignore_ascii_case(schema.core_urn) => (None, schema.core),
        Some(urn) => match schema.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(urn)) {
            Some((u, defs)) => (Some(*u), *defs),
            None => return Err(ScimError::InvalidPath(format!("unknown schema {urn}"))),
        },
    };
    let def = defs
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(&path.attr.name))
        .ok_or_else(|| ScimError::InvalidPath(format!("no writable attribute {:?}", path.attr.name)))?;
    Ok((container, def))
}

fn sub_name(def: &AttrDef, sub: &str) -> Result<&'static str, ScimError> {
    def.subs
        .iter()
        .find(|s| s.eq_ignore_ascii_case(sub))
        .copied()
        .ok_or_else(|| ScimError::InvalidPath(format!("{} has no sub-attribute {sub:?}", def.name)))
}

fn as_elements(v: &Value) -> Result<Vec<Value>, ScimError> {
    match v {
        Value::Array(items) => {
            if items.iter().all(Value::is_object) {
                Ok(items.clone())
            } else {
                Err(ScimError::InvalidValue(
                    "each element of a multi-valued attribute is an object".into(),
                ))
            }
        }
        Value::Object(_) => Ok(vec![v.clone()]),
        _ => Err(ScimError::InvalidValue(
            "a multi-valued attribute takes an array of objects".into(),
        )),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

fn apply_filtered(
    container: &mut Map<String, Value>,
    key: &str,
    filter: &Filter,
    sub: Option<&'static str>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let items = container
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !items.is_array() {
        *items = Value::Array(Vec::new());
    }
    let Value::Array(items) = items else {
        return Ok(());
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(filter, e))
        .map(|(i, _)| i)
        .collect();
    if op == OpKind::Remove {
        if matched.is_empty() {
            return Err(ScimError::NoTarget(format!("{key}[{filter}] matched nothing")));
        }
        for i in matched.into_iter().rev() {
            match sub {
                Some(s) => {
                    if let Some(Value::Object(m)) = items.get_mut(i) {
                        m.remove(s);
                    }
                }
                None => {
                    items.remove(i);
                }
            }
        }
        return Ok(());
    }
    let value = value.cloned().unwrap_or(Value::Null);
    if matched.is_empty() {
        // Entra and Okta write `emails[type eq "work"].value` to create the element: build it
        // from the filter's equalities.
        let mut element =
            seed_from_filter(filter).ok_or_else(|| ScimError::NoTarget(format!("{key}[{filter}] matched nothing")))?;
        put(&mut element, sub, value)?;
        items.push(Value::Object(element));
        return Ok(());
    }
    for i in matched {
        if let Some(Value::Object(m)) = items.get_mut(i) {
            put(m, sub, value.clone())?;
        }
    }
    Ok(())
}

fn put(element: &mut Map<String, Value>, sub: Option<&str>, value: Value) -> Result<(), ScimError> {
    match (sub, value) {
        (Some(s), v) => {
            element.insert(s.to_string(), v);
        }
        (None, Value::Object(fields)) => element.extend(fields),
        (None, _) => return Err(ScimError::InvalidValue("an element takes an object value".into())),
    }
    Ok(())
}

/// The element a conjunction of equalities describes, or `None` for any other filter.
fn seed_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub_attr.is_none() && path.urn.is_none() => {
            let v = match value {
                CompValue::Str(s) | CompValue::Bare(s) => Value::String(s.clone()),
                CompValue::True => Value::Bool(true),
                CompValue::False => Value::Bool(false),
                CompValue::Null => return None,
            };
            let mut m = Map::new();
            m.insert(path.name.clone(), v);
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = seed_from_filter(a)?;
            m.extend(seed_from_filter(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// Evaluates a value filter against one element of a multi-valued attribute.
pub(crate) fn matches(filter: &Filter, element: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, element) && matches(b, element),
        Filter::Or(a, b) => matches(a, element) || matches(b, element),
        Filter::Not(f) => !matches(f, element),
        Filter::ValuePath { .. } => false,
        Filter::Present(path) => field(element, &path.name, path.sub_attr.as_deref()).is_some_and(|v| !v.is_null()),
        Filter::Compare { path, op, value } => {
            let actual = field(element, &path.name, path.sub_attr.as_deref());
            compare(actual, *op, value)
        }
    }
}

fn field<'a>(element: &'a Value, name: &str, sub: Option<&str>) -> Option<&'a Value> {
    let v = get_ci(element.as_object()?, name)?;
    match sub {
        Some(s) => get_ci(v.as_object()?, s),
        None => Some(v),
    }
}

/// Compares a JSON value with a filter value: strings case-insensitively (RFC 7643's default
/// `caseExact: false`), booleans and null exactly.
pub(crate) fn compare(actual: Option<&Value>, op: CompareOp, expected: &CompValue) -> bool {
    match expected {
        CompValue::Null => match op {
            CompareOp::Eq => actual.is_none_or(Value::is_null),
            CompareOp::Ne => actual.is_some_and(|v| !v.is_null()),
            _ => false,
        },
        CompValue::True | CompValue::False => {
            let want = matches!(expected, CompValue::True);
            let got = match actual {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => s.parse::<bool>().ok().or_else(|| s.to_ascii_lowercase().parse().ok()),
                _ => None,
            };
            match op {
                CompareOp::Eq => got == Some(want),
                CompareOp::Ne => got != Some(want),
                _ => false,
            }
        }
        CompValue::Str(s) | CompValue::Bare(s) => {
            let got = match actual {
                Some(Value::String(a)) => a.to_lowercase(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => return op == CompareOp::Ne,
            };
            let want = s.to_lowercase();
            match op {
                CompareOp::Eq => got == want,
                CompareOp::Ne => got != want,
                CompareOp::Co => got.contains(&want),
                CompareOp::Sw => got.starts_with(&want),
                CompareOp::Ew => got.ends_with(&want),
                CompareOp::Gt => got > want,
                CompareOp::Ge => got >= want,
                CompareOp::Lt => got < want,
                CompareOp::Le => got <= want,
            }
        }
    }
}
