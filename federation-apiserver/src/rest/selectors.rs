//! Label and field selectors, as in the `labelSelector` / `fieldSelector`
//! query parameters and `metav1.LabelSelector` objects.
//!
//! The label-selector grammar is Kubernetes': comma-separated requirements
//! `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
//! `key` (exists), `!key` (does not exist) and `key>N` / `key<N` (integers),
//! with whitespace allowed around tokens. `!=` and `notin` also match objects
//! without the label. Field selectors are `field=value`, `field==value` and
//! `field!=value`, comma-separated, with `\,`, `\=` and `\\` escapes in values;
//! only the labels a resource type serves may be used.
//!
//! Selectors match an object's JSON directly and are plain data
//! (`Clone + Send + Sync`), so storage filters can capture them.

// `ApiError` is this crate's error type for every API-facing result; it is
// large by design (a full Status), and these are not hot paths.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::registry::ResourceType;
use super::validation::{is_qualified_name, is_valid_label_value};
use crate::status::ApiError;

/// How one label requirement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement of a label selector; values are sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement, validating the key, the values and their count.
    pub fn new(key: &str, op: Operator, mut values: Vec<String>) -> Result<Self, String> {
        check(is_qualified_name(key), "key", key)?;
        use Operator::*;
        let count_error = match op {
            In | NotIn if values.is_empty() => {
                "for 'in', 'notin' operators, values set can't be empty"
            }
            Equals | DoubleEquals | NotEquals if values.len() != 1 => {
                "exact-match compatibility requires one single value"
            }
            Exists | DoesNotExist if !values.is_empty() => {
                "values set must be empty for exists and does not exist"
            }
            GreaterThan | LessThan if values.len() != 1 => {
                "for 'Gt', 'Lt' operators, exactly one value is required"
            }
            GreaterThan | LessThan if values[0].parse::<i64>().is_err() => {
                "for 'Gt', 'Lt' operators, the value must be an integer"
            }
            _ => "",
        };
        if !count_error.is_empty() {
            return Err(count_error.to_string());
        }
        for (i, v) in values.iter().enumerate() {
            check(is_valid_label_value(v), &format!("values[{i}][{key}]"), v)?;
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            op,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.op
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn matches<'m>(&self, get: &impl Fn(&str) -> Option<&'m str>) -> bool {
        let actual = get(&self.key);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In => actual.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => !actual.is_some_and(has),
            Operator::Exists => actual.is_some(),
            Operator::DoesNotExist => actual.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let num = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
                match (num(actual), num(self.values.first().map(String::as_str))) {
                    (Some(a), Some(w)) if self.op == Operator::GreaterThan => a > w,
                    (Some(a), Some(w)) => a < w,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (k, v) = (&self.key, self.values.join(","));
        match self.op {
            Operator::Equals => write!(f, "{k}={v}"),
            Operator::DoubleEquals => write!(f, "{k}=={v}"),
            Operator::NotEquals => write!(f, "{k}!={v}"),
            Operator::In => write!(f, "{k} in ({v})"),
            Operator::NotIn => write!(f, "{k} notin ({v})"),
            Operator::Exists => write!(f, "{k}"),
            Operator::DoesNotExist => write!(f, "!{k}"),
            Operator::GreaterThan => write!(f, "{k}>{v}"),
            Operator::LessThan => write!(f, "{k}<{v}"),
        }
    }
}

/// Turns validation messages into Kubernetes' `path: Invalid value: "v": ...`.
fn check(errs: Vec<String>, path: &str, value: &str) -> Result<(), String> {
    if errs.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{path}: Invalid value: {}: {}",
        quote(value),
        errs.join("; ")
    ))
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A parsed label selector: all requirements must hold. The empty selector
/// matches everything; [`LabelSelector::nothing`] matches no object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (a null `metav1.LabelSelector`).
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the `labelSelector` query syntax; errors are 400 BadRequest.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let tokens = lex(s);
        let mut p = Parser { tokens, pos: 0 };
        p.parse()
            .map_err(ApiError::bad_request)
            .map(Self::from_requirements)
    }

    fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            requirements,
            nothing: false,
        }
    }

    /// True for the match-everything selector.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Matches a `metadata.labels` value (`None`/null mean no labels);
    /// non-string label values count as absent.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        match labels.and_then(Value::as_object) {
            Some(map) => self.matches_map(map),
            None => self.matches_lookup(|_| None),
        }
    }

    /// Matches a JSON labels map.
    pub fn matches_map(&self, labels: &Map<String, Value>) -> bool {
        self.matches_lookup(|k| labels.get(k).and_then(Value::as_str))
    }

    /// Matches a typed labels map (as in k8s-openapi's `ObjectMeta`).
    pub fn matches_btree(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_lookup(|k| labels.get(k).map(String::as_str))
    }

    /// Matches an object by its `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels"))
    }

    fn matches_lookup<'m>(&self, get: impl Fn(&str) -> Option<&'m str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(&get))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// The JSON form of `metav1.LabelSelector`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSelector {
    #[serde(default)]
    match_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    match_expressions: Option<Vec<JsonExpression>>,
}

#[derive(Deserialize)]
struct JsonExpression {
    key: String,
    operator: String,
    #[serde(default)]
    values: Option<Vec<String>>,
}

/// Converts a `metav1.LabelSelector` (`matchLabels` + `matchExpressions`).
/// `null` matches nothing and `{}` everything, as in Kubernetes.
pub fn label_selector_from_json(sel: &Value) -> Result<LabelSelector, ApiError> {
    let bad = |msg: String| ApiError::bad_request(format!("invalid label selector: {msg}"));
    if sel.is_null() {
        return Ok(LabelSelector::nothing());
    } else if !sel.is_object() {
        return Err(bad("must be an object".into()));
    }
    let parsed = JsonSelector::deserialize(sel).map_err(|e| bad(e.to_string()))?;
    let mut reqs = Vec::new();
    for (k, v) in parsed.match_labels.unwrap_or_default() {
        reqs.push(Requirement::new(&k, Operator::Equals, vec![v]).map_err(bad)?);
    }
    for (i, e) in parsed
        .match_expressions
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let op = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                let msg = format!("{} is not a valid label selector operator", quote(other));
                return Err(bad(format!("matchExpressions[{i}]: {msg}")));
            }
        };
        let r = Requirement::new(&e.key, op, e.values.unwrap_or_default());
        reqs.push(r.map_err(|m| bad(format!("matchExpressions[{i}]: {m}")))?);
    }
    Ok(LabelSelector::from_requirements(reqs))
}

// ---- label selector lexer and parser ----
//
// Tokens are strings: a symbol (`!`, `!=`, `=`, `==`, `>`, `<`, `(`, `)`, `,`)
// or an identifier (never starts with a symbol character); `""` ends input.
// `in` and `notin` are keywords only where an operator is expected.

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '>' | '<')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident(tok: &str) -> bool {
    tok.chars().next().is_some_and(|c| !is_special(c))
}

fn lex(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let mut tok = String::from(c);
        match c {
            c if is_space(c) => continue,
            '!' | '=' => tok.extend(chars.next_if_eq(&'=')),
            c if is_special(c) => {}
            _ => tok.extend(std::iter::from_fn(|| {
                chars.next_if(|&c| !is_space(c) && !is_special(c))
            })),
        }
        out.push(tok);
    }
    out
}

fn found(tok: &str, expected: &str) -> String {
    format!("found '{tok}', expected: {expected}")
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &str {
        self.tokens.get(self.pos).map_or("", String::as_str)
    }

    fn next(&mut self) -> String {
        let t = self.peek().to_string();
        self.pos += 1;
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        match self.peek() {
            "" => return Ok(reqs),
            t if !is_ident(t) && t != "!" => {
                return Err(found(t, "!, identifier, or 'end of string'"))
            }
            _ => {}
        }
        loop {
            let r = self.requirement();
            reqs.push(r.map_err(|e| format!("unable to parse requirement: {e}"))?);
            match self.next().as_str() {
                "" => return Ok(reqs),
                "," => match self.peek() {
                    t if is_ident(t) || t == "!" => {}
                    t => return Err(found(t, "identifier after ','")),
                },
                t => return Err(found(t, "',' or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut key = self.next();
        let negated = key == "!";
        if negated {
            key = self.next();
        }
        if !is_ident(&key) {
            return Err(found(&key, "identifier"));
        }
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(), "" | ",") {
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let op = match self.next().as_str() {
            "=" => Operator::Equals,
            "==" => Operator::DoubleEquals,
            "!=" => Operator::NotEquals,
            ">" => Operator::GreaterThan,
            "<" => Operator::LessThan,
            "in" => Operator::In,
            "notin" => Operator::NotIn,
            t => return Err(found(t, "in, notin, =, ==, !=, gt, lt")),
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.value_list()?,
            _ => match self.peek() {
                "" | "," => vec![String::new()],
                t if is_ident(t) => vec![self.next()],
                t => return Err(found(t, "identifier")),
            },
        };
        Requirement::new(&key, op, values)
    }

    /// `( v1, v2, ... )`; empty elements (`(a,,b)`, `(a,)`) are empty values.
    fn value_list(&mut self) -> Result<Vec<String>, String> {
        let open = self.next();
        if open != "(" {
            return Err(found(&open, "'('"));
        }
        let mut values = Vec::new();
        if self.peek() == ")" {
            self.pos += 1;
            return Ok(values);
        }
        loop {
            match self.peek() {
                t if is_ident(t) => values.push(self.next()),
                "," | ")" => values.push(String::new()),
                t => return Err(found(t, "',', or identifier")),
            }
            match self.next().as_str() {
                "," => {}
                ")" => return Ok(values),
                t => return Err(found(t, "',' or ')'")),
            }
        }
    }
}

// ---- field selectors ----

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    /// The field label as the client wrote it (`source`).
    label: String,
    /// The JSON path it reads (`["source", "component"]`).
    path: Vec<String>,
    value: String,
    negated: bool,
}

/// A parsed field selector: all `field=value` / `field!=value` terms must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query syntax for one resource type. Only
    /// `metadata.name`, `metadata.namespace` and the type's
    /// `extra_field_labels` are accepted; errors are 400 BadRequest.
    pub fn parse(s: &str, rt: &ResourceType) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(s, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let not_understood = || {
                ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ))
            };
            let (lhs, negated, rhs) = split_term(term).ok_or_else(not_understood)?;
            let label = lhs.trim();
            if label.is_empty() {
                return Err(not_understood());
            }
            let value = unescape_value(rhs).map_err(ApiError::bad_request)?;
            let supported = label == "metadata.name"
                || label == "metadata.namespace"
                || rt.extra_field_labels.iter().any(|l| l == label);
            if !supported {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {label}"
                )));
            }
            let path = field_path(rt, label)
                .split('.')
                .map(str::to_string)
                .collect();
            requirements.push(FieldRequirement {
                label: label.to_string(),
                path,
                value,
                negated,
            });
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether the object satisfies every term; a missing field is `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements
            .iter()
            .all(|r| (field_value(obj, &r.path) == r.value.as_str()) != r.negated)
    }

    /// The `X` of a `metadata.name=X` term, to narrow a list to one key.
    pub fn exact_name(&self) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.label == "metadata.name" && !r.negated)
            .map(|r| r.value.as_str())
    }
}

/// The dotted JSON path a field label reads; events' `source` is `source.component`.
fn field_path<'a>(rt: &ResourceType, label: &'a str) -> &'a str {
    match (rt.kind.as_str(), label) {
        ("Event", "source") => "source.component",
        _ => label,
    }
}

fn field_value<'v>(obj: &'v Value, path: &[String]) -> Cow<'v, str> {
    let mut cur = obj;
    for seg in path {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return Cow::Borrowed(""),
        }
    }
    match cur {
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Owned(b.to_string()),
        _ => Cow::Borrowed(""),
    }
}

/// Splits on `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Splits `lhs op rhs` at the first unescaped `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        escaped = c == '\\';
        let rest = &term[i..];
        let (negated, len) = if rest.starts_with("!=") {
            (true, 2)
        } else if rest.starts_with("==") {
            (false, 2)
        } else if c == '=' {
            (false, 1)
        } else {
            continue;
        };
        return Some((&term[..i], negated, &term[i + len..]));
    }
    None
}

/// Resolves `\\`, `\,` and `\=`; any other escape or a bare `,`/`=` is an error.
fn unescape_value(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ))
                }
                None => return Err("invalid field selector: invalid escape sequence: \\".into()),
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {c}"
                ))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::registry::Registry;
    use serde_json::json;
    use std::sync::Arc;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels}})
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        let e = LabelSelector::parse(s).expect_err(s);
        assert_eq!(e.code, 400);
        assert_eq!(e.reason, "BadRequest");
        e.message
    }

    fn rt(group: &str, plural: &str) -> Arc<ResourceType> {
        Registry::builtin().lookup(group, "v1", plural).unwrap()
    }

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", "  ", "\t"] {
            let l = sel(s);
            assert!(l.is_empty());
            assert!(l.matches_object(&json!({})));
            assert!(l.matches(None));
        }
        assert!(!LabelSelector::nothing().matches_object(&obj(json!({}))));
        assert!(!LabelSelector::nothing().is_empty());
    }

    #[test]
    fn equality_requirements() {
        let web = obj(json!({"app": "web", "tier": ""}));
        assert!(sel("app=web").matches_object(&web));
        assert!(sel("app==web").matches_object(&web));
        assert!(!sel("app=db").matches_object(&web));
        assert!(sel("app!=db").matches_object(&web));
        assert!(!sel("app!=web").matches_object(&web));
        // != matches objects without the label.
        assert!(sel("env!=prod").matches_object(&web));
        assert!(sel("env!=prod").matches_object(&json!({"metadata": {}})));
        // Empty values.
        assert!(sel("tier=").matches_object(&web));
        assert!(!sel("x=").matches_object(&web));
        assert_eq!(sel("x=").requirements()[0].values(), [""]);
        assert!(sel("x=,app=web").matches_object(&obj(json!({"x": "", "app": "web"}))));
        assert!(sel("x!=").matches_object(&web));
    }

    #[test]
    fn set_and_existence_requirements() {
        let s = sel("a in (x, y),!b,c!=d");
        assert_eq!(s.requirements().len(), 3);
        assert!(s.matches_object(&obj(json!({"a": "x"}))));
        assert!(s.matches_object(&obj(json!({"a": "y", "c": "e"}))));
        assert!(!s.matches_object(&obj(json!({"a": "z"}))));
        assert!(!s.matches_object(&obj(json!({"a": "x", "b": ""}))));
        assert!(!s.matches_object(&obj(json!({"a": "x", "c": "d"}))));
        assert!(!s.matches_object(&obj(json!({}))));
        assert_eq!(s.to_string(), "a in (x,y),!b,c!=d");

        let n = sel("env notin (prod,staging)");
        assert!(n.matches_object(&obj(json!({"env": "dev"}))));
        assert!(
            n.matches_object(&obj(json!({}))),
            "notin matches objects without the label"
        );
        assert!(!n.matches_object(&obj(json!({"env": "prod"}))));

        assert!(sel("app").matches_object(&obj(json!({"app": ""}))));
        assert!(!sel("app").matches_object(&obj(json!({}))));
        assert!(sel("!app").matches_object(&obj(json!({}))));
        assert!(sel("  ! app ").matches_object(&obj(json!({}))));
        // Values named like keywords, and empty set members.
        assert!(sel("a in (in,notin)").matches_object(&obj(json!({"a": "notin"}))));
        assert!(sel("a in (x,)").matches_object(&obj(json!({"a": ""}))));
        assert_eq!(sel("a in (,,x)").requirements()[0].values(), ["", "x"]);
        assert!(sel("in=x").matches_object(&obj(json!({"in": "x"}))));
    }

    #[test]
    fn whitespace_prefixes_and_numbers() {
        let s = sel("  app.kubernetes.io/name = web ,  tier  in(  a ,b  ) ");
        assert!(s.matches_object(&obj(json!({"app.kubernetes.io/name": "web", "tier": "b"}))));
        assert!(sel("app.kubernetes.io/name=web")
            .matches_object(&obj(json!({"app.kubernetes.io/name": "web"}))));
        let gt = sel("n>5,m<10");
        assert!(gt.matches_object(&obj(json!({"n": "6", "m": "9"}))));
        assert!(!gt.matches_object(&obj(json!({"n": "5", "m": "9"}))));
        assert!(!gt.matches_object(&obj(json!({"m": "9"}))));
        assert!(!gt.matches_object(&obj(json!({"n": "x", "m": "9"}))));
        // Non-string label values count as absent.
        assert!(!sel("a").matches_object(&obj(json!({"a": 1}))));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x', expected: '('"
        );
        assert_eq!(
            err("a in ()"),
            "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err("=v"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert!(err("a>x").contains("the value must be an integer"));
        let bad_key = err("bad key/x/y=1");
        assert!(
            bad_key.starts_with("unable to parse requirement: found 'key/x/y'"),
            "{bad_key}"
        );
        let bad_key = err("a/b/c=1");
        assert!(
            bad_key.starts_with(
                "unable to parse requirement: key: Invalid value: \"a/b/c\": a qualified name"
            ),
            "{bad_key}"
        );
        let bad_value = err("a=-x");
        assert!(
            bad_value.starts_with(
                "unable to parse requirement: values[0][a]: Invalid value: \"-x\": a valid label"
            ),
            "{bad_value}"
        );
        assert!(
            err(&format!("a={}", "v".repeat(64))).contains("must be no more than 63 characters")
        );
        assert!(err(&format!("{}=v", "k".repeat(64))).contains("name part must be no more than 63"));
        assert!(err("é=1").contains("key: Invalid value"));
    }

    #[test]
    fn structured_label_selectors() {
        let s = label_selector_from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []}
            ]
        }))
        .unwrap();
        assert!(s.matches_object(&obj(json!({"app": "web", "tier": "fe", "team": "a"}))));
        assert!(!s.matches_object(&obj(
            json!({"app": "web", "tier": "fe", "team": "a", "legacy": "y"})
        )));
        assert!(!s.matches_object(&obj(
            json!({"app": "web", "tier": "fe", "team": "a", "env": "prod"})
        )));
        assert!(!s.matches_object(&obj(json!({"app": "db", "tier": "fe", "team": "a"}))));
        let typed = [("app", "web"), ("tier", "be"), ("team", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(s.matches_btree(&typed));

        assert!(label_selector_from_json(&json!({})).unwrap().is_empty());
        assert!(label_selector_from_json(&json!({})).unwrap().matches(None));
        assert!(!label_selector_from_json(&Value::Null)
            .unwrap()
            .matches(None));

        for bad in [
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            json!({"matchExpressions": [{"operator": "Exists"}]}),
            json!({"matchLabels": {"a": 1}}),
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchLabels": "a=b"}),
            json!("a=b"),
        ] {
            let e = label_selector_from_json(&bad).expect_err(&bad.to_string());
            assert_eq!(e.code, 400, "{bad}");
        }
        let e = label_selector_from_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]}),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("\"Gt\" is not a valid label selector operator"),
            "{}",
            e.message
        );
    }

    #[test]
    fn field_selectors() {
        let cms = rt("", "configmaps");
        let o = json!({"metadata": {"name": "a", "namespace": "ns1"}});
        let f = FieldSelector::parse("metadata.name=a", &cms).unwrap();
        assert!(f.matches(&o));
        assert_eq!(f.exact_name(), Some("a"));
        assert!(
            FieldSelector::parse("metadata.name==a,metadata.namespace=ns1", &cms)
                .unwrap()
                .matches(&o)
        );
        assert!(!FieldSelector::parse("metadata.namespace!=ns1", &cms)
            .unwrap()
            .matches(&o));
        let ne = FieldSelector::parse("metadata.name!=b", &cms).unwrap();
        assert!(ne.matches(&o));
        assert_eq!(ne.exact_name(), None);
        let empty = FieldSelector::parse("", &cms).unwrap();
        assert!(empty.is_empty() && empty.matches(&o));
        assert!(FieldSelector::parse(",metadata.name=a,", &cms)
            .unwrap()
            .matches(&o));
        // A missing field compares as "".
        assert!(FieldSelector::parse("metadata.namespace=", &cms)
            .unwrap()
            .matches(&json!({"metadata": {}})));
        assert!(FieldSelector::parse("metadata.namespace!=x", &cms)
            .unwrap()
            .matches(&json!({})));
    }

    #[test]
    fn field_selector_labels_per_type() {
        let cms = rt("", "configmaps");
        let e = FieldSelector::parse("spec.foo=x", &cms).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
        assert_eq!(e.message, "field label not supported: spec.foo");
        assert!(FieldSelector::parse("type=Opaque", &cms).is_err());

        let secrets = rt("", "secrets");
        let s = FieldSelector::parse("type=kubernetes.io/tls", &secrets).unwrap();
        assert!(s.matches(&json!({"type": "kubernetes.io/tls"})));
        assert!(!s.matches(&json!({"type": "Opaque"})));

        let ns = FieldSelector::parse("status.phase=Active", &rt("", "namespaces")).unwrap();
        assert!(ns.matches(&json!({"status": {"phase": "Active"}})));
        assert!(!ns.matches(&json!({"status": {}})));

        let events = rt("", "events");
        let ev = json!({"involvedObject": {"name": "web", "kind": "Deployment", "namespace": "default"},
                        "source": {"component": "deployment-controller"}, "type": "Normal", "reason": "Scaled"});
        let q = "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Deployment,involvedObject.uid=";
        assert!(FieldSelector::parse(q, &events).unwrap().matches(&ev));
        assert!(
            FieldSelector::parse("source=deployment-controller,type=Normal", &events)
                .unwrap()
                .matches(&ev)
        );
        assert!(!FieldSelector::parse("source=kubelet", &events)
            .unwrap()
            .matches(&ev));
        assert!(FieldSelector::parse("reason!=Failed", &events)
            .unwrap()
            .matches(&ev));
    }

    #[test]
    fn field_selector_escapes_and_errors() {
        let cms = rt("", "configmaps");
        let f =
            FieldSelector::parse(r"metadata.name=a\,b\=c\\d,metadata.namespace=x", &cms).unwrap();
        assert_eq!(f.exact_name(), Some(r"a,b=c\d"));
        assert!(f.matches(&json!({"metadata": {"name": r"a,b=c\d", "namespace": "x"}})));

        let bad = |s: &str| {
            let e = FieldSelector::parse(s, &cms).expect_err(s);
            assert_eq!(e.code, 400, "{s}");
            e.message
        };
        assert_eq!(
            bad("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(bad("=v"), "invalid selector: '=v'; can't understand '=v'");
        assert_eq!(
            bad("metadata.name=a=b"),
            "invalid field selector: unescaped character in value: ="
        );
        assert_eq!(
            bad(r"metadata.name=a\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            bad(r"metadata.name=a\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            bad("metadata.name in (a)"),
            "invalid selector: 'metadata.name in (a)'; can't understand 'metadata.name in (a)'"
        );
    }

    #[test]
    fn selectors_are_shareable() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<LabelSelector>();
        assert_shareable::<FieldSelector>();
        let f = FieldSelector::parse("metadata.name=a", &rt("", "configmaps")).unwrap();
        let l = sel("app=web");
        let filter: Arc<dyn Fn(&Value) -> bool + Send + Sync> =
            Arc::new(move |o| f.matches(o) && l.matches_object(o));
        assert!(filter(
            &json!({"metadata": {"name": "a", "labels": {"app": "web"}}})
        ));
    }
}
