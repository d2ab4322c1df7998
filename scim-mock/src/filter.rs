//! SCIM filter expressions (RFC 7644 §3.4.2.2), parsed with [`str::parse`] and
//! printed back in canonical form with [`std::fmt::Display`].
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! ```
//!
//! Deviations and choices:
//! * keywords (`and`, `or`, `not`, `pr`, operators, `true`/`false`/`null`) are
//!   case-insensitive; `and` binds tighter than `or`, both are left-associative;
//! * values that are neither a quoted string nor `true`/`false`/`null` are kept
//!   verbatim as [`CompValue::Bare`] (numbers, and the unquoted words Notion's own
//!   documentation uses: `displayName eq Designers`). A bare value runs up to
//!   whitespace, `)` or `]`;
//! * no words are reserved: an attribute may be called `not`, `and` or `pr`
//!   (`not` followed by `(` is always the negation);
//! * a value filter cannot be nested inside another one, and cannot follow a
//!   sub-attribute (`emails.value[...]`), both meaningless in SCIM;
//! * nesting of `(`, `not (` and `[` is limited to [`MAX_NESTING`] and the height of
//!   the resulting tree to [`MAX_HEIGHT`], so that neither parsing nor the recursive
//!   `Display`/`Drop`/`PartialEq` of the result can overflow the stack.
//!
//! Error positions are byte offsets into the input.

use std::fmt;
use std::str::FromStr;

/// Maximum nesting of parentheses, `not (...)` and `[...]`.
pub const MAX_NESTING: usize = 32;

/// Maximum height of a parsed [`Filter`] tree (a chain of `n` `and`s has height `n + 1`).
pub const MAX_HEIGHT: usize = 256;

/// An attribute path: `[urn ":"] name ["." subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing `:`.
    pub urn: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute after `.`, as written.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    /// Whether the attribute name is `name`, compared case-insensitively, ignoring
    /// the URN and the sub-attribute.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for AttrPath {
    type Err = FilterError;

    /// Parses a lone attribute path (surrounding whitespace allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser::new(s);
        p.skip_ws();
        let path = p.attr_path()?;
        p.skip_ws();
        p.expect_end("end of attribute path")?;
        Ok(path)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// All operators.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lower-case) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator spelled `word`, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompValue {
    /// A double-quoted string, JSON escapes decoded.
    Str(String),
    /// An unquoted value other than `true`/`false`/`null`, verbatim: numbers, and
    /// unquoted words (`displayName eq Designers`). Never empty, never starts with
    /// `"`, and contains no whitespace, `)` or `]` when produced by the parser.
    Bare(String),
    True,
    False,
    Null,
}

impl CompValue {
    /// The text of a [`CompValue::Str`] or [`CompValue::Bare`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            CompValue::Str(s) | CompValue::Bare(s) => Some(s),
            CompValue::True | CompValue::False | CompValue::Null => None,
        }
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write_json_string(f, s),
            CompValue::Bare(s) => f.write_str(s),
            CompValue::True => f.write_str("true"),
            CompValue::False => f.write_str("false"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `path op value`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `path pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`
    Not(Box<Filter>),
    /// `path[filter]`, e.g. `emails[type eq "work" and value co "@x"]`; the inner
    /// filter's paths are relative to `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Binding strength, for deciding where `Display` needs parentheses.
    fn level(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            Filter::Compare { .. } | Filter::Present(_) | Filter::Not(_) | Filter::ValuePath { .. } => 3,
        }
    }

    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min_level: u8) -> fmt::Result {
        if self.level() < min_level {
            f.write_str("(")?;
            self.fmt_at(f, 0)?;
            return f.write_str(")");
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            // Left-associative: the left operand may be of the same kind, the right
            // operand must bind tighter.
            Filter::Or(l, r) => {
                l.fmt_at(f, 1)?;
                f.write_str(" or ")?;
                r.fmt_at(f, 2)
            }
            Filter::And(l, r) => {
                l.fmt_at(f, 2)?;
                f.write_str(" and ")?;
                r.fmt_at(f, 3)
            }
            Filter::Not(inner) => {
                f.write_str("not (")?;
                inner.fmt_at(f, 0)?;
                f.write_str(")")
            }
            Filter::ValuePath { path, filter } => {
                write!(f, "{path}[")?;
                filter.fmt_at(f, 0)?;
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_at(f, 0)
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser::new(s);
        p.skip_ws();
        if p.at_end() {
            return Err(p.error_here("empty filter"));
        }
        let (filter, _) = p.or_expr(false)?;
        p.skip_ws();
        p.expect_end("'and', 'or' or end of filter")?;
        Ok(filter)
    }
}

/// A syntax error in a filter or a PATCH path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {position}")]
pub struct FilterError {
    /// What went wrong.
    pub message: String,
    /// Byte offset into the input where it went wrong.
    pub position: usize,
}

impl FilterError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        Self {
            message: message.into(),
            position,
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Characters that end a word (an attribute path or a keyword).
fn is_delim(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Whether `c` may appear in a bare (unquoted) value after its first character.
pub(crate) fn is_bare_char(c: char) -> bool {
    !(c.is_whitespace() || c == ')' || c == ']')
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-')
}

type PResult<T> = Result<T, FilterError>;

/// Recursive-descent parser shared by filters and PATCH paths.
#[derive(Debug)]
pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    nesting: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            nesting: 0,
        }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    pub(crate) fn error_here(&self, message: impl Into<String>) -> FilterError {
        FilterError::new(message, self.pos)
    }

    /// A short description of what is at the current position, for messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_owned(),
            Some(_) => {
                let snippet: String = self.rest().chars().take(12).collect();
                format!("{snippet:?}")
            }
        }
    }

    pub(crate) fn expect_end(&self, expected: &str) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.error_here(format!("expected {expected}, found {}", self.found())))
        }
    }

    fn expect_char(&mut self, c: char, what: &str) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error_here(format!("expected {what}, found {}", self.found())))
        }
    }

    /// Scans the maximal run of characters that are not delimiters.
    fn word(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        while self.peek().is_some_and(|c| !is_delim(c)) {
            self.bump();
        }
        (start, self.src.get(start..self.pos).unwrap_or(""))
    }

    fn enter(&mut self, at: usize) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            Err(FilterError::new(
                format!("nesting deeper than {MAX_NESTING} levels"),
                at,
            ))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn check_height(height: usize, at: usize) -> PResult<usize> {
        if height > MAX_HEIGHT {
            Err(FilterError::new(
                format!("filter too complex (more than {MAX_HEIGHT} levels)"),
                at,
            ))
        } else {
            Ok(height)
        }
    }

    /// Parses an attribute path at the current position.
    pub(crate) fn attr_path(&mut self) -> PResult<AttrPath> {
        let (start, word) = self.word();
        if word.is_empty() {
            return Err(self.error_here(format!("expected an attribute path, found {}", self.found())));
        }
        attr_path_from_word(start, word)
    }

    /// Parses an attribute name (for a sub-attribute after `]`).
    pub(crate) fn attr_name(&mut self) -> PResult<String> {
        let (start, word) = self.word();
        if word.is_empty() {
            return Err(self.error_here(format!("expected an attribute name, found {}", self.found())));
        }
        check_name(word, start)?;
        Ok(word.to_owned())
    }

    /// Parses `filter "]"` after an opening `[` at `open`, i.e. a value filter.
    pub(crate) fn bracket_filter(&mut self, open: usize) -> PResult<(Filter, usize)> {
        self.enter(open)?;
        let inner = self.or_expr(true)?;
        self.skip_ws();
        self.expect_char(']', "'and', 'or' or ']'")?;
        self.leave();
        Ok(inner)
    }

    /// `or_expr = and_expr *("or" and_expr)`; returns the filter and its height.
    pub(crate) fn or_expr(&mut self, in_value_path: bool) -> PResult<(Filter, usize)> {
        let (mut left, mut height) = self.and_expr(in_value_path)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let (at, word) = self.word();
            if !word.eq_ignore_ascii_case("or") {
                self.pos = save;
                return Ok((left, height));
            }
            let (right, rh) = self.and_expr(in_value_path)?;
            height = Self::check_height(height.max(rh) + 1, at)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn and_expr(&mut self, in_value_path: bool) -> PResult<(Filter, usize)> {
        let (mut left, mut height) = self.atom(in_value_path)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let (at, word) = self.word();
            if !word.eq_ignore_ascii_case("and") {
                self.pos = save;
                return Ok((left, height));
            }
            let (right, rh) = self.atom(in_value_path)?;
            height = Self::check_height(height.max(rh) + 1, at)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    fn atom(&mut self, in_value_path: bool) -> PResult<(Filter, usize)> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => return Err(self.error_here("expected an attribute path, 'not' or '(', found end of input")),
            Some('(') => {
                self.bump();
                self.enter(start)?;
                let inner = self.or_expr(in_value_path)?;
                self.skip_ws();
                self.expect_char(')', "'and', 'or' or ')'")?;
                self.leave();
                return Ok(inner);
            }
            Some(c) if is_delim(c) => {
                return Err(self.error_here(format!(
                    "expected an attribute path, 'not' or '(', found {}",
                    self.found()
                )))
            }
            Some(_) => {}
        }

        let (word_start, word) = self.word();
        if word.eq_ignore_ascii_case("not") {
            let after_word = self.pos;
            self.skip_ws();
            let open = self.pos;
            if self.eat('(') {
                self.enter(open)?;
                let (inner, h) = self.or_expr(in_value_path)?;
                self.skip_ws();
                self.expect_char(')', "'and', 'or' or ')'")?;
                self.leave();
                let h = Self::check_height(h + 1, word_start)?;
                return Ok((Filter::Not(Box::new(inner)), h));
            }
            // An attribute called `not`.
            self.pos = after_word;
        }
        let path = attr_path_from_word(word_start, word)?;

        let open = self.pos;
        if self.eat('[') {
            if in_value_path {
                return Err(FilterError::new(
                    "a value filter cannot be nested in another value filter",
                    open,
                ));
            }
            if path.sub_attr.is_some() {
                return Err(FilterError::new("a value filter cannot follow a sub-attribute", open));
            }
            let (inner, h) = self.bracket_filter(open)?;
            let h = Self::check_height(h + 1, word_start)?;
            return Ok((
                Filter::ValuePath {
                    path,
                    filter: Box::new(inner),
                },
                h,
            ));
        }

        self.skip_ws();
        let (op_at, op_word) = self.word();
        if op_word.is_empty() {
            return Err(self.error_here(format!(
                "expected an operator after attribute path, found {}",
                self.found()
            )));
        }
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok((Filter::Present(path), 1));
        }
        let Some(op) = CompareOp::from_keyword(op_word) else {
            return Err(FilterError::new(format!("unknown operator {op_word:?}"), op_at));
        };
        self.skip_ws();
        let value = self.comp_value()?;
        Ok((Filter::Compare { path, op, value }, 1))
    }

    fn comp_value(&mut self) -> PResult<CompValue> {
        match self.peek() {
            None | Some(')') | Some(']') => Err(self.error_here(format!("expected a value, found {}", self.found()))),
            Some('"') => self.string().map(CompValue::Str),
            Some(_) => {
                let start = self.pos;
                while self.peek().is_some_and(is_bare_char) {
                    self.bump();
                }
                let text = self.src.get(start..self.pos).unwrap_or("");
                Ok(if text.eq_ignore_ascii_case("true") {
                    CompValue::True
                } else if text.eq_ignore_ascii_case("false") {
                    CompValue::False
                } else if text.eq_ignore_ascii_case("null") {
                    CompValue::Null
                } else {
                    CompValue::Bare(text.to_owned())
                })
            }
        }
    }

    /// A JSON string literal starting at the current `"`.
    fn string(&mut self) -> PResult<String> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(FilterError::new("unterminated string", open)),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let c = match self.bump() {
                        None => return Err(FilterError::new("unterminated string", open)),
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('u') => self.unicode_escape(at)?,
                        Some(other) => {
                            return Err(FilterError::new(format!("invalid escape '\\{other}' in string"), at))
                        }
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// The rest of a `\uXXXX` escape (after the `u`) starting at `at`, combining
    /// a surrogate pair.
    fn unicode_escape(&mut self, at: usize) -> PResult<char> {
        let hi = self.hex4(at)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                let low_at = self.pos;
                if !(self.eat('\\') && self.eat('u')) {
                    return Err(FilterError::new("unpaired surrogate in \\u escape", at));
                }
                let lo = self.hex4(low_at)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(FilterError::new("unpaired surrogate in \\u escape", at));
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(FilterError::new("unpaired surrogate in \\u escape", at)),
            _ => hi,
        };
        char::from_u32(code).ok_or_else(|| FilterError::new("invalid \\u escape", at))
    }

    fn hex4(&mut self, at: usize) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| FilterError::new("\\u must be followed by 4 hex digits", at))?;
            self.bump();
            v = v * 16 + digit;
        }
        Ok(v)
    }
}

/// Splits and validates an attribute path scanned as one word starting at `start`.
fn attr_path_from_word(start: usize, word: &str) -> PResult<AttrPath> {
    let (urn, rest, rest_start) = match word.rsplit_once(':') {
        Some((urn, rest)) => {
            if urn.is_empty() {
                return Err(FilterError::new("empty URN before ':'", start));
            }
            if let Some((i, c)) = urn.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
                return Err(FilterError::new(format!("invalid character {c:?} in URN"), start + i));
            }
            (Some(urn.to_owned()), rest, start + urn.len() + 1)
        }
        None => (None, word, start),
    };
    if rest.is_empty() {
        return Err(FilterError::new("expected an attribute name after the URN", rest_start));
    }
    let (name, sub_attr) = match rest.split_once('.') {
        Some((name, sub)) => {
            check_name(name, rest_start)?;
            let sub_start = rest_start + name.len() + 1;
            if sub.is_empty() {
                return Err(FilterError::new("expected a sub-attribute name after '.'", sub_start));
            }
            check_name(sub, sub_start)?;
            (name.to_owned(), Some(sub.to_owned()))
        }
        None => {
            check_name(rest, rest_start)?;
            (rest.to_owned(), None)
        }
    };
    Ok(AttrPath { urn, name, sub_attr })
}

/// Checks `ATTRNAME = ALPHA *(ALPHA / DIGIT / "_" / "$" / "-")`.
fn check_name(name: &str, start: usize) -> PResult<()> {
    let mut chars = name.char_indices();
    match chars.next() {
        None => return Err(FilterError::new("expected an attribute name", start)),
        Some((_, c)) if !is_name_start(c) => {
            return Err(FilterError::new(
                format!("attribute name must start with a letter, found {c:?}"),
                start,
            ))
        }
        Some(_) => {}
    }
    if let Some((i, c)) = chars.find(|&(_, c)| !is_name_char(c)) {
        return Err(FilterError::new(
            format!("invalid character {c:?} in attribute name"),
            start + i,
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod strategies {
    //! proptest strategies for generating filters, shared with `patch_path`.
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9_$-]{0,6}"
    }

    pub(crate) fn urn() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("urn:ietf:params:scim:schemas:extension:notion:2.0:User".to_owned()),
            Just("urn:ietf:params:scim:schemas:core:2.0:Group".to_owned()),
            "[a-z][a-z0-9]{0,3}(:[A-Za-z0-9.+%-]{1,4}){0,3}",
        ]
    }

    pub(crate) fn attr_path(with_sub: bool) -> impl Strategy<Value = AttrPath> {
        let sub = if with_sub {
            proptest::option::of(name()).boxed()
        } else {
            Just(None).boxed()
        };
        (proptest::option::of(urn()), name(), sub).prop_map(|(urn, name, sub_attr)| AttrPath { urn, name, sub_attr })
    }

    fn bare() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?[0-9]{1,5}(\\.[0-9]{1,3})?",
            "[A-Za-z][A-Za-z0-9@._-]{0,8}",
            "[^\\s()\\]\"][^\\s)\\]]{0,8}",
        ]
        .prop_filter("not a bare value", |s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| is_bare_char(c) && c != '"')
                && chars.all(is_bare_char)
                && !["true", "false", "null"].iter().any(|k| s.eq_ignore_ascii_case(k))
        })
    }

    pub(crate) fn comp_value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            any::<String>().prop_map(CompValue::Str),
            "[ -~]{0,8}".prop_map(CompValue::Str),
            bare().prop_map(CompValue::Bare),
            Just(CompValue::True),
            Just(CompValue::False),
            Just(CompValue::Null),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        proptest::sample::select(CompareOp::ALL.to_vec())
    }

    fn attr_exp() -> BoxedStrategy<Filter> {
        prop_oneof![
            (attr_path(true), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
            attr_path(true).prop_map(Filter::Present),
        ]
        .boxed()
    }

    fn combine(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
        .boxed()
    }

    /// A filter allowed inside `[...]`: no value paths.
    pub(crate) fn value_filter() -> BoxedStrategy<Filter> {
        combine(attr_exp())
    }

    /// Any filter.
    pub(crate) fn filter() -> BoxedStrategy<Filter> {
        let value_path = (attr_path(false), value_filter()).prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
        });
        combine(prop_oneof![3 => attr_exp(), 1 => value_path].boxed())
    }

    /// Strings made of the grammar's pieces, mostly invalid.
    pub(crate) fn token_soup() -> impl Strategy<Value = String> {
        let token = proptest::sample::select(vec![
            "userName",
            "emails",
            "type",
            "value",
            "urn:ietf:params:scim:schemas:core:2.0:User:",
            "name.familyName",
            ".",
            ":",
            " ",
            "  ",
            "\t",
            "eq",
            "EQ",
            "co",
            "pr",
            "Pr",
            "gt",
            "and",
            "AND",
            "or",
            "not",
            "Not",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "\\",
            "\\u",
            "\\ud800",
            "\"x\"",
            "\"a\\\"b\"",
            "true",
            "null",
            "42",
            "-1.5e3",
            "Designers",
            "é",
            "\u{a0}",
            "$",
            "-",
            "_",
        ]);
        (proptest::collection::vec(token, 0..24), any::<bool>())
            .prop_map(|(v, spaced)| v.join(if spaced { " " } else { "" }))
    }

    /// `text` with one random edit: truncated, a character deleted, inserted or
    /// replaced. Applied to valid text, gives mostly-valid near misses.
    pub(crate) fn mangle(text: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        let chars = proptest::sample::select(vec![
            '(', ')', '[', ']', '"', '\\', ' ', '.', ':', 'x', '1', '\u{e9}', '\u{a0}',
        ]);
        (text, any::<proptest::sample::Index>(), 0u8..4, chars).prop_map(|(text, at, kind, c)| {
            let mut out: Vec<char> = text.chars().collect();
            let i = at.index(out.len() + 1);
            match kind {
                0 => out.truncate(i),
                1 if i < out.len() => {
                    out.remove(i);
                }
                2 => out.insert(i, c),
                _ if i < out.len() => out[i] = c,
                _ => {}
            }
            out.into_iter().collect()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Filter {
        match s.parse::<Filter>() {
            Ok(f) => f,
            Err(e) => panic!("{s:?} failed to parse: {e}"),
        }
    }

    fn err(s: &str) -> FilterError {
        match s.parse::<Filter>() {
            Ok(f) => panic!("{s:?} parsed unexpectedly as {f:?}"),
            Err(e) => e,
        }
    }

    fn path(s: &str) -> AttrPath {
        s.parse().unwrap()
    }

    fn cmp(path_text: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            path: path(path_text),
            op,
            value,
        }
    }

    fn s(v: &str) -> CompValue {
        CompValue::Str(v.to_owned())
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn round_trips(f: &Filter) {
        let text = f.to_string();
        assert_eq!(text.parse::<Filter>().as_ref(), Ok(f), "text: {text}");
    }

    /// Every example filter from RFC 7644 §3.4.2.2 parses, and its canonical form
    /// round-trips.
    #[test]
    fn rfc_examples_parse_and_round_trip() {
        let examples = [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ];
        for text in examples {
            round_trips(&p(text));
        }
    }

    #[test]
    fn rfc_examples_have_expected_structure() {
        assert_eq!(
            p(r#"userName eq "bjensen""#),
            cmp("userName", CompareOp::Eq, s("bjensen"))
        );
        assert_eq!(
            p(r#"name.familyName co "O'Malley""#),
            Filter::Compare {
                path: AttrPath {
                    urn: None,
                    name: "name".into(),
                    sub_attr: Some("familyName".into())
                },
                op: CompareOp::Co,
                value: s("O'Malley"),
            }
        );
        assert_eq!(
            p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
            Filter::Compare {
                path: AttrPath {
                    urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                    name: "userName".into(),
                    sub_attr: None
                },
                op: CompareOp::Sw,
                value: s("J"),
            }
        );
        assert_eq!(p("title pr"), Filter::Present(path("title")));
        assert_eq!(
            p(r#"title pr or userType eq "Intern""#),
            or(
                Filter::Present(path("title")),
                cmp("userType", CompareOp::Eq, s("Intern"))
            )
        );
        assert_eq!(
            p(r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#),
            and(
                cmp("userType", CompareOp::Ne, s("Employee")),
                Filter::Not(Box::new(or(
                    cmp("emails", CompareOp::Co, s("example.com")),
                    cmp("emails.value", CompareOp::Co, s("example.org")),
                ))),
            )
        );
        assert_eq!(
            p(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
            and(
                cmp("userType", CompareOp::Eq, s("Employee")),
                Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(and(
                        cmp("type", CompareOp::Eq, s("work")),
                        cmp("value", CompareOp::Co, s("@example.com")),
                    )),
                },
            )
        );
    }

    #[test]
    fn notion_examples() {
        assert_eq!(
            p(r#"userName eq "a@b.com""#),
            cmp("userName", CompareOp::Eq, s("a@b.com"))
        );
        assert_eq!(p(r#"email eq "x@y.com""#), cmp("email", CompareOp::Eq, s("x@y.com")));
        assert_eq!(p(r#"given_name eq "Ann""#), cmp("given_name", CompareOp::Eq, s("Ann")));
        assert_eq!(
            p("displayName eq Designers"),
            cmp("displayName", CompareOp::Eq, CompValue::Bare("Designers".into()))
        );
        assert_eq!(
            p(r#"displayName eq "Design Team""#),
            cmp("displayName", CompareOp::Eq, s("Design Team"))
        );
        assert_eq!(
            p(r#"members[value eq "abc"]"#),
            Filter::ValuePath {
                path: path("members"),
                filter: Box::new(cmp("value", CompareOp::Eq, s("abc"))),
            }
        );
        assert_eq!(
            p("urn:ietf:params:scim:schemas:extension:notion:2.0:User:role eq owner").to_string(),
            "urn:ietf:params:scim:schemas:extension:notion:2.0:User:role eq owner"
        );
        let Filter::Compare { path: role, .. } =
            p(r#"urn:ietf:params:scim:schemas:extension:notion:2.0:User:role eq "owner""#)
        else {
            panic!("not a comparison")
        };
        assert_eq!(
            role.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:notion:2.0:User")
        );
        assert_eq!(role.name, "role");
    }

    #[test]
    fn keywords_are_case_insensitive_and_printed_lower_case() {
        let f = p(r#"userName EQ "x" AND title Pr Or NOT (a Ne TRUE)"#);
        assert_eq!(f.to_string(), r#"userName eq "x" and title pr or not (a ne true)"#);
        assert_eq!(
            p("a eq FALSE or b eq Null"),
            or(
                cmp("a", CompareOp::Eq, CompValue::False),
                cmp("b", CompareOp::Eq, CompValue::Null)
            )
        );
    }

    #[test]
    fn all_operators() {
        for op in CompareOp::ALL {
            let text = format!("a {} 1", op.as_str().to_uppercase());
            assert_eq!(p(&text), cmp("a", op, CompValue::Bare("1".into())));
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_both_are_left_associative() {
        let a = || Filter::Present(path("a"));
        let b = || Filter::Present(path("b"));
        let c = || Filter::Present(path("c"));
        assert_eq!(p("a pr or b pr and c pr"), or(a(), and(b(), c())));
        assert_eq!(p("a pr and b pr or c pr"), or(and(a(), b()), c()));
        assert_eq!(p("a pr and b pr and c pr"), and(and(a(), b()), c()));
        assert_eq!(p("a pr or b pr or c pr"), or(or(a(), b()), c()));
        assert_eq!(p("(a pr or b pr) and c pr"), and(or(a(), b()), c()));
        // Display adds exactly the parentheses precedence needs.
        assert_eq!(and(or(a(), b()), c()).to_string(), "(a pr or b pr) and c pr");
        assert_eq!(and(a(), and(b(), c())).to_string(), "a pr and (b pr and c pr)");
        assert_eq!(or(a(), or(b(), c())).to_string(), "a pr or (b pr or c pr)");
        assert_eq!(or(and(a(), b()), c()).to_string(), "a pr and b pr or c pr");
        assert_eq!(p("((a pr))"), a());
    }

    #[test]
    fn whitespace_is_flexible() {
        assert_eq!(
            p("  not(a pr)\tand\n(b eq \"x\")  "),
            and(
                Filter::Not(Box::new(Filter::Present(path("a")))),
                cmp("b", CompareOp::Eq, s("x"))
            )
        );
    }

    #[test]
    fn keywords_can_be_attribute_names() {
        assert_eq!(p("not eq 1"), cmp("not", CompareOp::Eq, CompValue::Bare("1".into())));
        assert_eq!(
            p("and pr and or pr"),
            and(Filter::Present(path("and")), Filter::Present(path("or")))
        );
        assert_eq!(p("pr pr"), Filter::Present(path("pr")));
        round_trips(&p("not eq not and not (not pr)"));
    }

    #[test]
    fn bare_values() {
        assert_eq!(p("a gt 10"), cmp("a", CompareOp::Gt, CompValue::Bare("10".into())));
        assert_eq!(
            p("a eq -1.5e3"),
            cmp("a", CompareOp::Eq, CompValue::Bare("-1.5e3".into()))
        );
        assert_eq!(p("(a eq 1.0)").to_string(), "a eq 1.0");
        // A bare value stops at whitespace, `)` and `]`.
        assert_eq!(
            p("(a eq x(y) and b[c eq d]"),
            and(
                cmp("a", CompareOp::Eq, CompValue::Bare("x(y".into())),
                Filter::ValuePath {
                    path: path("b"),
                    filter: Box::new(cmp("c", CompareOp::Eq, CompValue::Bare("d".into()))),
                }
            )
        );
        assert_eq!(CompValue::Bare("x".into()).as_str(), Some("x"));
        assert_eq!(s("y").as_str(), Some("y"));
        assert_eq!(CompValue::True.as_str(), None);
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            p(r#"a eq "q\"b\\s\/n\n\t\u00e9\ud83d\ude00""#),
            cmp("a", CompareOp::Eq, s("q\"b\\s/n\n\t\u{e9}\u{1f600}"))
        );
        let f = cmp("a", CompareOp::Eq, s("\"\\\n\u{1}\u{7f}é😀"));
        assert_eq!(f.to_string(), r#"a eq "\"\\\n\u0001\u007fé😀""#);
        round_trips(&f);
    }

    #[test]
    fn attr_path_helpers() {
        let ap = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(
            ap.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(ap.name, "manager");
        assert_eq!(ap.sub_attr.as_deref(), Some("value"));
        assert!(ap.is("MANAGER"));
        assert!(!ap.is("value"));
        assert_eq!(
            ap.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        assert!(AttrPath::new("userName").is("username"));
        assert!("a.b.c".parse::<AttrPath>().is_err());
        assert!("1a".parse::<AttrPath>().is_err());
        assert!(":a".parse::<AttrPath>().is_err());
        assert!("urn:x:".parse::<AttrPath>().is_err());
        assert!("a.".parse::<AttrPath>().is_err());
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = err("");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("empty"), "{e}");
        assert_eq!(err("   ").position, 3);

        let e = err(r#"userName eq "abc"#);
        assert_eq!(e.position, 12);
        assert!(e.message.contains("unterminated"), "{e}");
        assert_eq!(e.to_string(), "unterminated string at byte 12");

        let e = err(r#"userName eq "a" garbage"#);
        assert_eq!(e.position, 16);
        assert!(e.message.contains("garbage"), "{e}");

        let e = err("userName xx 1");
        assert_eq!((e.position, e.message.as_str()), (9, "unknown operator \"xx\""));

        let e = err("userName");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("operator"), "{e}");

        assert_eq!(err("a eq").position, 4);
        assert_eq!(err("a eq )").position, 5);
        assert_eq!(err("(a pr").position, 5);
        assert_eq!(err("a pr)").position, 4);
        assert_eq!(err("a pr and").position, 8);
        assert_eq!(err("1a pr").position, 0);
        assert_eq!(err("a.b.c pr").position, 3);
        assert_eq!(err("a[b pr").position, 6);
        assert_eq!(err("a[b[c pr]]").position, 3);
        assert_eq!(err("a.b[c pr]").position, 3);
        assert_eq!(err("a [b pr]").position, 2);
        assert_eq!(err(r#"a eq "\x""#).position, 6);
        assert_eq!(err(r#"a eq "\u12""#).position, 6);
        assert_eq!(err(r#"a eq "\udc00""#).position, 6);
        assert_eq!(err(r#"a eq "\ud800x""#).position, 6);
        assert_eq!(err(r#"a eq "x\"#).position, 5);
        assert_eq!(err("not (a pr").position, 9);
        assert!(err("a eq 1 and").message.contains("end of input"));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}a pr{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(p(&ok), Filter::Present(path("a")));
        let deep = format!("{}a pr{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        let e = err(&deep);
        assert_eq!(e.position, MAX_NESTING);
        assert!(e.message.contains("nesting"), "{e}");

        let nots = format!("{}a pr{}", "not (".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert!(err(&nots).message.contains("nesting"));

        // Far beyond any stack: still just an error.
        let huge = "(".repeat(1_000_000);
        assert!(err(&huge).message.contains("nesting"));
        let huge_not = "not (".repeat(200_000);
        assert!(err(&huge_not).message.contains("nesting"));
    }

    #[test]
    fn height_is_bounded() {
        let chain = |n: usize| vec!["a pr"; n].join(" and ");
        round_trips(&p(&chain(MAX_HEIGHT)));
        let e = err(&chain(MAX_HEIGHT + 1));
        assert!(e.message.contains("too complex"), "{e}");
        let e = err(&vec!["a pr"; 100_000].join(" or "));
        assert!(e.message.contains("too complex"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn arbitrary_strings_never_panic(text in any::<String>()) {
            if let Ok(f) = text.parse::<Filter>() {
                prop_assert_eq!(f.to_string().parse::<Filter>(), Ok(f));
            }
        }

        #[test]
        fn grammar_character_strings_never_panic(text in "[a-zA-Z0-9 ()\\[\\]\".:\\\\_$-]{0,40}") {
            if let Ok(f) = text.parse::<Filter>() {
                prop_assert_eq!(f.to_string().parse::<Filter>(), Ok(f));
            }
        }

        #[test]
        fn token_soup_never_panics(text in strategies::token_soup()) {
            match text.parse::<Filter>() {
                Ok(f) => prop_assert_eq!(f.to_string().parse::<Filter>(), Ok(f)),
                Err(e) => prop_assert!(e.position <= text.len()),
            }
        }

        #[test]
        fn mangled_filters_never_panic(
            text in strategies::mangle(strategies::filter().prop_map(|f| f.to_string()))
        ) {
            match text.parse::<Filter>() {
                Ok(f) => prop_assert_eq!(f.to_string().parse::<Filter>(), Ok(f)),
                Err(e) => prop_assert!(e.position <= text.len()),
            }
        }

        #[test]
        fn display_round_trips(f in strategies::filter()) {
            let text = f.to_string();
            prop_assert_eq!(text.parse::<Filter>(), Ok(f), "text: {}", text);
        }

        #[test]
        fn attr_path_round_trips(ap in strategies::attr_path(true)) {
            prop_assert_eq!(ap.to_string().parse::<AttrPath>(), Ok(ap));
        }
    }
}
