//! SCIM PATCH operation paths (RFC 7644 §3.5.2), parsed with [`str::parse`] and
//! printed back in canonical form with [`std::fmt::Display`].
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! ```
//!
//! e.g. `members`, `name.givenName`, `members[value eq "2819c223"]`,
//! `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
//!
//! Shares the tokenizer, attribute-path and filter code with [`crate::filter`]; errors
//! are [`FilterError`]s with byte positions. Surrounding whitespace is allowed,
//! whitespace inside the path (outside the brackets) is not.

use std::fmt;
use std::str::FromStr;

use crate::filter::{AttrPath, Filter, FilterError, Parser};

/// A PATCH `path`.
///
/// Without a filter, a `.sub` is in `attr.sub_attr` and `sub_attr` is `None`.
/// With a filter, `attr.sub_attr` is `None` and `sub_attr` holds the part after `]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatchPath {
    /// The attribute (and, without a filter, its sub-attribute).
    pub attr: AttrPath,
    /// The value filter between `[` and `]`.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub sub_attr: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for PatchPath {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser::new(s);
        p.skip_ws();
        if p.at_end() {
            return Err(p.error_here("empty path"));
        }
        let attr = p.attr_path()?;
        let mut filter = None;
        let mut sub_attr = None;
        let open = p.pos();
        if p.eat('[') {
            if attr.sub_attr.is_some() {
                return Err(FilterError {
                    message: "a value filter cannot follow a sub-attribute".to_owned(),
                    position: open,
                });
            }
            let (inner, _) = p.bracket_filter(open)?;
            filter = Some(inner);
            if p.eat('.') {
                sub_attr = Some(p.attr_name()?);
            }
        }
        p.skip_ws();
        p.expect_end(if filter.is_some() {
            "'.' or end of path"
        } else {
            "'[' or end of path"
        })?;
        Ok(PatchPath { attr, filter, sub_attr })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::filter::strategies;
    use crate::filter::{CompValue, CompareOp};
    use proptest::prelude::*;

    fn p(s: &str) -> PatchPath {
        match s.parse::<PatchPath>() {
            Ok(v) => v,
            Err(e) => panic!("{s:?} failed to parse: {e}"),
        }
    }

    fn err(s: &str) -> FilterError {
        match s.parse::<PatchPath>() {
            Ok(v) => panic!("{s:?} parsed unexpectedly as {v:?}"),
            Err(e) => e,
        }
    }

    fn attr(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub_attr: sub.map(str::to_owned),
        }
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare {
            path: AttrPath::new(name),
            op: CompareOp::Eq,
            value: CompValue::Str(value.to_owned()),
        }
    }

    /// The §3.5.2 examples (and Notion's), with canonical text equal to the input.
    #[test]
    fn rfc_and_notion_examples() {
        let cases = [
            (
                "members",
                PatchPath {
                    attr: attr(None, "members", None),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                "name.familyName",
                PatchPath {
                    attr: attr(None, "name", Some("familyName")),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                "name.givenName",
                PatchPath {
                    attr: attr(None, "name", Some("givenName")),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                r#"addresses[type eq "work"]"#,
                PatchPath {
                    attr: attr(None, "addresses", None),
                    filter: Some(eq("type", "work")),
                    sub_attr: None,
                },
            ),
            (
                r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
                PatchPath {
                    attr: attr(None, "members", None),
                    filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
                    sub_attr: None,
                },
            ),
            (
                r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
                PatchPath {
                    attr: attr(None, "members", None),
                    filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
                    sub_attr: Some("displayName".to_owned()),
                },
            ),
            (
                r#"emails[type eq "work" and value ew "example.com"]"#,
                PatchPath {
                    attr: attr(None, "emails", None),
                    filter: Some(Filter::And(
                        Box::new(eq("type", "work")),
                        Box::new(Filter::Compare {
                            path: AttrPath::new("value"),
                            op: CompareOp::Ew,
                            value: CompValue::Str("example.com".to_owned()),
                        }),
                    )),
                    sub_attr: None,
                },
            ),
            (
                r#"addresses[type eq "work"].streetAddress"#,
                PatchPath {
                    attr: attr(None, "addresses", None),
                    filter: Some(eq("type", "work")),
                    sub_attr: Some("streetAddress".to_owned()),
                },
            ),
            (
                r#"emails[type eq "work"].value"#,
                PatchPath {
                    attr: attr(None, "emails", None),
                    filter: Some(eq("type", "work")),
                    sub_attr: Some("value".to_owned()),
                },
            ),
            (
                r#"members[value eq "abc"]"#,
                PatchPath {
                    attr: attr(None, "members", None),
                    filter: Some(eq("value", "abc")),
                    sub_attr: None,
                },
            ),
            (
                "urn:ietf:params:scim:schemas:extension:notion:2.0:User:role",
                PatchPath {
                    attr: attr(
                        Some("urn:ietf:params:scim:schemas:extension:notion:2.0:User"),
                        "role",
                        None,
                    ),
                    filter: None,
                    sub_attr: None,
                },
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                PatchPath {
                    attr: attr(
                        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                        "manager",
                        Some("value"),
                    ),
                    filter: None,
                    sub_attr: None,
                },
            ),
        ];
        for (text, expected) in cases {
            let parsed = p(text);
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn lenient_input_prints_canonically() {
        assert_eq!(
            p(r#"  Emails[ TYPE EQ "work" AND primary Eq TRUE ].Value "#).to_string(),
            r#"Emails[TYPE eq "work" and primary eq true].Value"#
        );
        assert_eq!(p("members[value eq abc]").to_string(), "members[value eq abc]");
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = err("");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("empty"), "{e}");
        assert_eq!(err("  ").position, 2);
        assert_eq!(err("1abc").position, 0);
        assert_eq!(err("members[").position, 8);
        assert_eq!(err(r#"members[value eq "x""#).position, 20);
        assert_eq!(err(r#"members[value eq "x"#).position, 17);
        assert_eq!(err(r#"members[value eq "x"]x"#).position, 21);
        assert_eq!(err(r#"members[value eq "x"]."#).position, 22);
        assert_eq!(err(r#"members[value eq "x"].a.b"#).position, 23);
        assert_eq!(err(r#"members[value eq "x"][a pr]"#).position, 21);
        assert_eq!(err(r#"members[value[a pr]]"#).position, 13);
        assert_eq!(err(r#"name.givenName[a pr]"#).position, 14);
        assert_eq!(err("members extra").position, 8);
        assert_eq!(err("members (a pr)").position, 8);
        assert_eq!(err("urn:x:").position, 6);
        let e = err(r#"members[value eq "x"] ."#);
        assert_eq!(e.to_string(), "expected '.' or end of path, found \".\" at byte 22");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("a[{}b pr{}]", "(".repeat(100_000), ")".repeat(100_000));
        assert!(err(&deep).message.contains("nesting"));
    }

    fn patch_path() -> impl Strategy<Value = PatchPath> {
        prop_oneof![
            strategies::attr_path(true).prop_map(|attr| PatchPath {
                attr,
                filter: None,
                sub_attr: None
            }),
            (
                strategies::attr_path(false),
                strategies::value_filter(),
                proptest::option::of(strategies::name()),
            )
                .prop_map(|(attr, filter, sub_attr)| PatchPath {
                    attr,
                    filter: Some(filter),
                    sub_attr,
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn arbitrary_strings_never_panic(text in any::<String>()) {
            if let Ok(v) = text.parse::<PatchPath>() {
                prop_assert_eq!(v.to_string().parse::<PatchPath>(), Ok(v));
            }
        }

        #[test]
        fn grammar_character_strings_never_panic(text in "[a-zA-Z0-9 ()\\[\\]\".:\\\\_$-]{0,40}") {
            if let Ok(v) = text.parse::<PatchPath>() {
                prop_assert_eq!(v.to_string().parse::<PatchPath>(), Ok(v));
            }
        }

        #[test]
        fn token_soup_never_panics(text in strategies::token_soup()) {
            match text.parse::<PatchPath>() {
                Ok(v) => prop_assert_eq!(v.to_string().parse::<PatchPath>(), Ok(v)),
                Err(e) => prop_assert!(e.position <= text.len()),
            }
        }

        #[test]
        fn mangled_paths_never_panic(
            text in strategies::mangle(patch_path().prop_map(|v| v.to_string()))
        ) {
            match text.parse::<PatchPath>() {
                Ok(v) => prop_assert_eq!(v.to_string().parse::<PatchPath>(), Ok(v)),
                Err(e) => prop_assert!(e.position <= text.len()),
            }
        }

        #[test]
        fn display_round_trips(v in patch_path()) {
            let text = v.to_string();
            prop_assert_eq!(text.parse::<PatchPath>(), Ok(v), "text: {}", text);
        }
    }
}
