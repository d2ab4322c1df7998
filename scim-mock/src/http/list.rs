//! Paging: 1-based `startIndex`, `count` at most 100, and the list pathologies faults ask for.

use serde::Serialize;

use crate::error::ScimError;
use crate::faults::{ListShaping, PagingFault};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::quirks::{CountOverMax, Quirks, UnsupportedFilter};
use crate::resource::ListPage;

/// Notion's maximum page size for Users and Groups.
pub(crate) const MAX_COUNT: usize = 100;

/// The query parameters of a list request.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub filter: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ListQuery {
    pub fn parse(query: Option<&str>) -> Result<Self, ScimError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| ScimError::InvalidSyntax(format!("bad query string: {e}")))?;
        let mut q = ListQuery::default();
        for (k, v) in pairs {
            match k.as_str() {
                "startIndex" => q.start_index = Some(v),
                "count" => q.count = Some(v),
                "filter" => q.filter = Some(v),
                "attributes" => q.attributes = Some(v),
                "excludedAttributes" => q.excluded_attributes = Some(v),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether the response should leave `attr` out.
    pub fn excludes(&self, attr: &str) -> bool {
        let named = |list: &Option<String>| {
            list.as_deref()
                .is_some_and(|l| l.split(',').any(|a| a.trim().eq_ignore_ascii_case(attr)))
        };
        named(&self.excluded_attributes) || (self.attributes.is_some() && !named(&self.attributes))
    }
}

/// Which positions of the selected items a page shows, and what it says about them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub positions: Vec<usize>,
    pub total_results: u64,
    pub start_index: u64,
    pub items_per_page: Option<u64>,
}

fn number(name: &str, raw: &Option<String>) -> Result<Option<i64>, ScimError> {
    raw.as_deref()
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| ScimError::InvalidValue(format!("{name} must be an integer, got {s:?}")))
        })
        .transpose()
}

/// Picks the page of `total` selected items that the query asks for.
pub(crate) fn page(q: &ListQuery, total: usize, quirks: &Quirks, shaping: ListShaping) -> Result<Page, ScimError> {
    // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
    let start = number("startIndex", &q.start_index)?.unwrap_or(1).max(1) as usize;
    let mut count = number("count", &q.count)?.map_or(quirks.default_count, |c| c.max(0) as usize);
    if count > MAX_COUNT {
        match quirks.count_over_max {
            CountOverMax::Clamp => count = MAX_COUNT,
            CountOverMax::Reject => {
                return Err(ScimError::InvalidValue(format!(
                    "count must be at most {MAX_COUNT}, got {count}"
                )))
            }
        }
    }
    let mut from = start - 1;
    if shaping.paging == Some(PagingFault::DuplicateAcrossPages) && from > 0 {
        from -= 1;
    }
    let endless = shaping.paging == Some(PagingFault::EndlessPages) && total > 0;
    let positions: Vec<usize> = if endless {
        (from..from + count).map(|p| p % total).collect()
    } else {
        (from.min(total)..(from + count).min(total)).collect()
    };
    let positions = match shaping.rotate {
        Some(seed) if total > 0 => {
            let offset = (seed % total as u64) as usize;
            positions.into_iter().map(|p| (p + offset) % total).collect()
        }
        _ => positions,
    };
    let mut total_results = total as u64;
    if endless {
        total_results = (start + 2 * count.max(1)) as u64;
    }
    if let Some(PagingFault::InflatedTotalResults(extra)) = shaping.paging {
        total_results += extra;
    }
    let items_per_page = match shaping.paging {
        Some(PagingFault::ZeroItemsPerPage) => Some(0),
        Some(PagingFault::MissingItemsPerPage) => None,
        _ => Some(positions.len() as u64),
    };
    Ok(Page {
        positions,
        total_results,
        start_index: start as u64,
        items_per_page,
    })
}

/// Serialises a page as a `ListResponse`. `view(index)` renders the item at `index` of the whole
/// collection; `selected`, when a filter chose some items, maps page positions to those indices.
pub(crate) fn render<V: Serialize>(
    p: &Page,
    selected: Option<&[usize]>,
    view: impl Fn(usize) -> Option<V>,
) -> Result<Vec<u8>, ScimError> {
    let view = &view;
    let views = p.positions.iter().filter_map(move |&pos| {
        let index = match selected {
            Some(s) => *s.get(pos)?,
            None => pos,
        };
        view(index)
    });
    let list = ListPage {
        total_results: p.total_results,
        start_index: p.start_index,
        items_per_page: p.items_per_page,
        resources: views,
    };
    serde_json::to_vec(&list).map_err(|e| ScimError::InvalidValue(e.to_string()))
}

/// Reads a list filter in Notion's vocabulary: `attr eq value` (quoted or not) with `attr` one
/// of `attrs`, on the resource's core schema. Answers the attribute as spelt in `attrs` and the
/// value; `None` for no filter, or for an unsupported one when the quirk says to ignore it.
/// Anything else is 400 `invalidFilter`, naming `vocabulary`.
pub(crate) fn eq_filter<'a>(
    filter: Option<&str>,
    quirks: &Quirks,
    schema: &str,
    attrs: &[&'a str],
    vocabulary: &str,
) -> Result<Option<(&'a str, String)>, ScimError> {
    let Some(text) = filter.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let parsed: Filter = text
        .parse()
        .map_err(|e| ScimError::InvalidFilter(format!("bad filter {text:?}: {e}")))?;
    if let Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: CompValue::Str(v) | CompValue::Bare(v),
    } = &parsed
    {
        let core = path.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(schema));
        if let Some(attr) = attrs.iter().find(|a| core && path.sub_attr.is_none() && path.is(a)) {
            return Ok(Some((attr, v.clone())));
        }
    }
    match quirks.unsupported_filter {
        UnsupportedFilter::Reject => Err(ScimError::InvalidFilter(format!(
            "unsupported filter {text:?}: Notion filters {vocabulary}"
        ))),
        UnsupportedFilter::Ignore => Ok(None),
    }
}
