//! A small JSON reader and writer. Reading: text to a [`Value`] tree ([`parse`]), and
//! the few typed accessors the formats' hand-written `from_json` conversions are made of
//! ([`Value::object`], [`Obj`]). Writing: [`Writer`], byte for byte what serde_json
//! writes (compact or pretty), which the types' `write_json` / `to_json` drive.
//!
//! Why not serde: its derived deserializers were a tenth of the playground's engine code
//! (internally tagged and untagged enums buffer through serde's `Content`, one copy per
//! type), for three small formats, and its serializers were generic code per format as
//! well. These functions are not generic over the type read or written, so each is
//! compiled once.
//!
//! # What it accepts (RFC 8259, as serde_json does)
//! * One value, surrounded by whitespace (space, tab, CR, LF) only; anything after it is
//!   an error ("trailing characters").
//! * Strings: every escape (`\" \\ \/ \b \f \n \r \t \uXXXX`); a `\u` surrogate pair is
//!   one character, a lone surrogate is an error; raw control characters are errors.
//! * Numbers: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. An integer that
//!   fits is kept as [`Number::Unsigned`] or [`Number::Negative`]; anything else (a
//!   fraction, an exponent, `-0`, an integer beyond 64 bits) as its text in
//!   [`Number::Other`]: no format read with this module has fractional numbers, and the
//!   unsigned accessors refuse those as serde did.
//! * Nesting at most [`MAX_DEPTH`] arrays and objects deep (serde_json's limit), so the
//!   recursive parser's stack is bounded.
//! * Objects keep their members in document order, repeated keys included; the typed
//!   accessors refuse a repeated known field ("duplicate field `seed`", as serde's derive
//!   does), so a document never means two things. (Scenarios went through serde_json's
//!   `Value` before, where the last repeated key won; they are refused now too.)
//! * The conversions read the documented shapes only. serde's derive also took some
//!   accidental ones — a struct written as an array of its fields, a unit enum value as
//!   `{"lsm": null}`, a tagged action as `["write", "k", "v"]` — which are refused now.
//!
//! # Errors
//! A syntax error is a [`SyntaxError`] with the byte offset, line and column. A document
//! of the wrong shape is an [`Error`] whose path names the field (`actions[2].action.do`;
//! empty for the document itself), built as the conversions return ([`Error::at_key`],
//! [`Error::at_index`]). Nothing here panics on any input.

use std::fmt;

/// The deepest nesting of arrays and objects [`parse`] accepts.
pub const MAX_DEPTH: usize = 128;

/// A JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (module docs).
    Number(Number),
    /// A string, escapes resolved.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members in document order (repeated keys kept).
    Object(Vec<(String, Value)>),
}

/// A JSON number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Number {
    /// An integer from 0 to `u64::MAX`.
    Unsigned(u64),
    /// A negative integer from `i64::MIN` to -1.
    Negative(i64),
    /// Anything else, as written: a fraction, an exponent, `-0`, an integer out of range.
    Other(String),
}

/// Text that is not JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct SyntaxError {
    /// What is wrong.
    pub message: &'static str,
    /// Where, in bytes from the start.
    pub offset: usize,
    /// Where: the line, from 1.
    pub line: usize,
    /// Where: the byte in the line, from 1.
    pub column: usize,
}

/// Parses one JSON document (module docs).
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = p.value()?;
    p.skip_whitespace();
    if p.at < p.bytes.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> SyntaxError {
        let offset = self.at.min(self.bytes.len());
        let before = &self.bytes[..offset];
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        SyntaxError {
            message,
            offset,
            line: 1 + before.iter().filter(|b| **b == b'\n').count(),
            column: offset - line_start + 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.nested(Parser::array),
            Some(b'{') => self.nested(Parser::object),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        for b in word.bytes() {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a value")),
                Some(c) if c == b => self.at += 1,
                Some(_) => return Err(self.error("expected value")),
            }
        }
        Ok(value)
    }

    /// An array or object, one level deeper (the opening bracket at `self.at`).
    fn nested(
        &mut self,
        inner: fn(&mut Self) -> Result<Value, SyntaxError>,
    ) -> Result<Value, SyntaxError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.depth += 1;
        self.at += 1;
        let value = inner(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("key must be a string")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `:`")),
            }
            members.push((key, self.value()?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string (the opening quote at `self.at`).
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut out = String::new();
        let mut run = self.at;
        loop {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    // Runs start and end at ASCII bytes, so they are char boundaries.
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    out.push(self.escape()?);
                    run = self.at;
                }
                Some(0..=0x1f) => {
                    return Err(self
                        .error("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// The character an escape stands for (after the backslash).
    fn escape(&mut self) -> Result<char, SyntaxError> {
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.at += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error("lone trailing surrogate in hex escape"))
                    }
                    _ => first,
                };
                // Every code outside the surrogates is a char.
                char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))?
            }
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(c) => char::from(c).to_digit(16),
            };
            let Some(d) = d else {
                return Err(self.error("invalid escape"));
            };
            n = n * 16 + d;
            self.at += 1;
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.error("EOF while parsing a value")),
            Some(_) => return Err(self.error("invalid number")),
        }
        let int_end = self.at;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            integer = false;
        }
        let magnitude = self.bytes[int_start..int_end]
            .iter()
            .try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
        let number = match (integer, negative, magnitude) {
            (true, false, Some(n)) => Number::Unsigned(n),
            (true, true, Some(n)) if n != 0 => match 0i64.checked_sub_unsigned(n) {
                Some(n) => Number::Negative(n),
                None => Number::Other(self.text[start..self.at].to_owned()),
            },
            _ => Number::Other(self.text[start..self.at].to_owned()),
        };
        Ok(Value::Number(number))
    }
}

/// A value of the wrong shape: where (a path of keys and indexes) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Innermost first (the path grows as the conversions return).
    path: Vec<Segment>,
    message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl Error {
    /// An error about the value at hand.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The error happened in the member `key` of the value at hand.
    #[must_use]
    pub fn at_key(mut self, key: &str) -> Error {
        self.path.push(Segment::Key(key.to_owned()));
        self
    }

    /// The error happened in item `index` of the array at hand.
    #[must_use]
    pub fn at_index(mut self, index: usize) -> Error {
        self.path.push(Segment::Index(index));
        self
    }

    /// Where: `actions[2].action.do`; `.` for the document itself.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for s in self.path.iter().rev() {
            match s {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push('.');
        }
        out
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path(), self.message)
        }
    }
}

impl From<SyntaxError> for Error {
    fn from(e: SyntaxError) -> Error {
        Error::new(e.to_string())
    }
}

/// What [`Value::object`] does with a member whose key is not a known field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Refuse it: "unknown field `x`, expected one of …" (serde's `deny_unknown_fields`).
    Refuse,
    /// Ignore it.
    Ignore,
}

/// `` `a`, `b` or `c` ``-style list of names for messages.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".into(),
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let all: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", all.join(", "))
        }
    }
}

impl Value {
    /// The member `key` of an object (its first, if repeated); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// "invalid type: string \"x\", expected `expected`".
    pub fn invalid_type(&self, expected: &str) -> Error {
        let found = match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Number(Number::Unsigned(n)) => format!("integer `{n}`"),
            Value::Number(Number::Negative(n)) => format!("integer `{n}`"),
            Value::Number(Number::Other(n)) => format!("number `{n}`"),
            Value::String(s) => format!("string {s:?}"),
            Value::Array(_) => "sequence".to_owned(),
            Value::Object(_) => "map".to_owned(),
        };
        Error::new(format!("invalid type: {found}, expected {expected}"))
    }

    fn unsigned(&self, expected: &str) -> Result<u64, Error> {
        match self {
            Value::Number(Number::Unsigned(n)) => Ok(*n),
            Value::Number(Number::Negative(n)) => Err(Error::new(format!(
                "invalid value: integer `{n}`, expected {expected}"
            ))),
            _ => Err(self.invalid_type(expected)),
        }
    }

    /// A `u64`: an integer from 0 to `u64::MAX`, nothing else.
    pub fn to_u64(&self) -> Result<u64, Error> {
        self.unsigned("u64")
    }

    /// A `u32`.
    pub fn to_u32(&self) -> Result<u32, Error> {
        let n = self.unsigned("u32")?;
        u32::try_from(n)
            .map_err(|_| Error::new(format!("invalid value: integer `{n}`, expected u32")))
    }

    /// A `usize` (32 bits on wasm32, so a larger number is refused there).
    pub fn to_usize(&self) -> Result<usize, Error> {
        let n = self.unsigned("usize")?;
        usize::try_from(n)
            .map_err(|_| Error::new(format!("invalid value: integer `{n}`, expected usize")))
    }

    /// A boolean.
    pub fn to_bool(&self) -> Result<bool, Error> {
        match self {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.invalid_type("a boolean")),
        }
    }

    /// A string.
    pub fn to_str(&self) -> Result<&str, Error> {
        match self {
            Value::String(s) => Ok(s),
            _ => Err(self.invalid_type("a string")),
        }
    }

    /// An array of exactly two values (a pair, `[u64; 2]`).
    pub fn to_pair(&self, expected: &str) -> Result<(&Value, &Value), Error> {
        match self {
            Value::Array(items) => match items.as_slice() {
                [a, b] => Ok((a, b)),
                _ => Err(Error::new(format!(
                    "invalid length {}, expected {expected}",
                    items.len()
                ))),
            },
            _ => Err(self.invalid_type(expected)),
        }
    }

    /// An array whose items `item` converts; an error names the item's index.
    pub fn to_vec<T>(&self, item: fn(&Value) -> Result<T, Error>) -> Result<Vec<T>, Error> {
        match self {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| item(v).map_err(|e| e.at_index(i)))
                .collect(),
            _ => Err(self.invalid_type("a sequence")),
        }
    }

    /// An object whose keys are checked against `fields`: a repeated field is refused,
    /// and an unknown one is refused or ignored as `unknown` says (the error's path ends
    /// with the offending key, as serde_path_to_error's did). `expected` names the
    /// type for the message when the value is not an object (`struct Scenario`).
    pub fn object<'a>(
        &'a self,
        expected: &str,
        fields: &'static [&'static str],
        unknown: Unknown,
    ) -> Result<Obj<'a>, Error> {
        let Value::Object(members) = self else {
            return Err(self.invalid_type(expected));
        };
        for (i, (key, _)) in members.iter().enumerate() {
            if !fields.contains(&key.as_str()) {
                if unknown == Unknown::Refuse {
                    return Err(Error::new(format!(
                        "unknown field `{key}`, expected {}",
                        one_of(fields)
                    ))
                    .at_key(key));
                }
            } else if members[..i].iter().any(|(k, _)| k == key) {
                return Err(Error::new(format!("duplicate field `{key}`")).at_key(key));
            }
        }
        Ok(Obj { members })
    }
}

/// Renders the value as compact JSON (for messages: "version \"1\" is not supported").
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = Writer::compact();
        w.value(self);
        f.write_str(&w.finish())
    }
}

/// Writes JSON exactly as serde_json does: compact (`{"a":1,"b":[2,3]}`) or pretty (two
/// spaces of indentation, `"a": 1`, empty containers as `{}` and `[]`), strings escaped
/// as serde_json escapes them (`\"`, `\\`, `\b \f \n \r \t`, other control
/// characters as `\u00XX`, nothing else). The trace hash is computed over this output,
/// so it must not change.
///
/// Call order: a value is a scalar ([`Writer::u64`], [`Writer::str`], ...) or
/// `begin_*`, its members, `end_*`; in an object, each member is [`Writer::key`] then
/// its value (or one of the `field_*` shorthands).
#[derive(Clone, Debug)]
pub struct Writer {
    out: String,
    pretty: bool,
    depth: usize,
    /// No member written yet in the innermost open container.
    first: bool,
    /// A key was just written: its value needs no separator.
    after_key: bool,
}

impl Writer {
    /// serde_json's `to_string`.
    pub fn compact() -> Writer {
        Writer::new(false)
    }

    /// serde_json's `to_string_pretty`.
    pub fn pretty() -> Writer {
        Writer::new(true)
    }

    fn new(pretty: bool) -> Writer {
        Writer {
            out: String::new(),
            pretty,
            depth: 0,
            first: true,
            after_key: false,
        }
    }

    /// The text written.
    pub fn finish(self) -> String {
        debug_assert!(self.depth == 0, "every container is closed");
        self.out
    }

    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.depth {
                self.out.push_str("  ");
            }
        }
    }

    /// The separator before a value: none after a key or at the top, else an array's.
    fn before_value(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else if self.depth > 0 {
            if !self.first {
                self.out.push(',');
            }
            self.newline();
        }
        self.first = false;
    }

    /// Opens an object.
    pub fn begin_object(&mut self) {
        self.before_value();
        self.out.push('{');
        self.depth += 1;
        self.first = true;
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) {
        self.end('}');
    }

    /// Opens an array.
    pub fn begin_array(&mut self) {
        self.before_value();
        self.out.push('[');
        self.depth += 1;
        self.first = true;
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.end(']');
    }

    fn end(&mut self, close: char) {
        self.depth -= 1;
        if !self.first {
            self.newline();
        }
        self.out.push(close);
        self.first = false;
    }

    /// An object member's key; its value comes next.
    pub fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.newline();
        self.first = false;
        self.escaped(key);
        self.out.push_str(if self.pretty { ": " } else { ":" });
        self.after_key = true;
    }

    /// A number.
    pub fn u64(&mut self, n: u64) {
        self.before_value();
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b"0123456789"[usize::from(u8::try_from(n % 10).unwrap_or(0))];
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out
            .push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
    }

    /// A string.
    pub fn str(&mut self, s: &str) {
        self.before_value();
        self.escaped(s);
    }

    /// `true` or `false`.
    pub fn bool(&mut self, b: bool) {
        self.before_value();
        self.out.push_str(if b { "true" } else { "false" });
    }

    /// `null`.
    pub fn null(&mut self) {
        self.before_value();
        self.out.push_str("null");
    }

    /// A parsed value, as it was (objects in their order).
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(Number::Unsigned(n)) => self.u64(*n),
            Value::Number(Number::Negative(n)) => {
                self.before_value();
                self.out.push_str(&n.to_string());
            }
            Value::Number(Number::Other(n)) => {
                self.before_value();
                self.out.push_str(n);
            }
            Value::String(s) => self.str(s),
            Value::Array(items) => {
                self.begin_array();
                for v in items {
                    self.value(v);
                }
                self.end_array();
            }
            Value::Object(members) => {
                self.begin_object();
                for (k, v) in members {
                    self.key(k);
                    self.value(v);
                }
                self.end_object();
            }
        }
    }

    /// A member whose value is a number.
    pub fn field_u64(&mut self, key: &str, n: u64) {
        self.key(key);
        self.u64(n);
    }

    /// A member whose value is a string.
    pub fn field_str(&mut self, key: &str, s: &str) {
        self.key(key);
        self.str(s);
    }

    /// A member whose value is a boolean.
    pub fn field_bool(&mut self, key: &str, b: bool) {
        self.key(key);
        self.bool(b);
    }

    /// A member whose value is a number or `null`.
    pub fn field_opt_u64(&mut self, key: &str, n: Option<u64>) {
        self.key(key);
        match n {
            Some(n) => self.u64(n),
            None => self.null(),
        }
    }

    /// A member whose value is a string or `null`.
    pub fn field_opt_str(&mut self, key: &str, s: Option<&str>) {
        self.key(key);
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// A member whose value is an array of numbers.
    pub fn field_u64s(&mut self, key: &str, ns: &mut dyn Iterator<Item = u64>) {
        self.key(key);
        self.begin_array();
        for n in ns {
            self.u64(n);
        }
        self.end_array();
    }

    /// A member whose value is an array of pairs of numbers (`[[1,2],[3,4]]`).
    pub fn field_pairs(&mut self, key: &str, pairs: &mut dyn Iterator<Item = (u64, u64)>) {
        self.key(key);
        self.begin_array();
        for (a, b) in pairs {
            self.begin_array();
            self.u64(a);
            self.u64(b);
            self.end_array();
        }
        self.end_array();
    }

    fn escaped(&mut self, s: &str) {
        self.out.push('"');
        let mut run = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            // Escaped bytes are ASCII, so `i` is a char boundary.
            self.out.push_str(&s[run..i]);
            run = i + 1;
            if escape.is_empty() {
                self.out.push_str("\\u00");
                for nibble in [b >> 4, b & 15] {
                    self.out
                        .push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
                }
            } else {
                self.out.push_str(escape);
            }
        }
        self.out.push_str(&s[run..]);
        self.out.push('"');
    }
}

/// An object's members, keys checked ([`Value::object`]). The accessors place an error
/// inside the member under its key.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'a> {
    members: &'a [(String, Value)],
}

impl<'a> Obj<'a> {
    /// The member `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The member `key`: "missing field `key`" if absent.
    pub fn req(&self, key: &str) -> Result<&'a Value, Error> {
        self.get(key)
            .ok_or_else(|| Error::new(format!("missing field `{key}`")))
    }

    /// A required member converted by `f`.
    pub fn with<T>(&self, key: &str, f: fn(&'a Value) -> Result<T, Error>) -> Result<T, Error> {
        f(self.req(key)?).map_err(|e| e.at_key(key))
    }

    /// An optional member converted by `f` (`None` when absent; `null` goes to `f`).
    pub fn opt_with<T>(
        &self,
        key: &str,
        f: fn(&'a Value) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        self.get(key)
            .map(|v| f(v).map_err(|e| e.at_key(key)))
            .transpose()
    }

    /// A required `u64`.
    pub fn u64(&self, key: &str) -> Result<u64, Error> {
        self.with(key, Value::to_u64)
    }

    /// An optional `u64`, `default` when absent.
    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, Error> {
        Ok(self.opt_with(key, Value::to_u64)?.unwrap_or(default))
    }

    /// A required `u32`.
    pub fn u32(&self, key: &str) -> Result<u32, Error> {
        self.with(key, Value::to_u32)
    }

    /// An optional `u32`, `default` when absent.
    pub fn u32_or(&self, key: &str, default: u32) -> Result<u32, Error> {
        Ok(self.opt_with(key, Value::to_u32)?.unwrap_or(default))
    }

    /// An `Option<u32>`: `None` when absent or `null`.
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>, Error> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.to_u32().map(Some).map_err(|e| e.at_key(key)),
        }
    }

    /// An optional `usize`, `default` when absent.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, Error> {
        Ok(self.opt_with(key, Value::to_usize)?.unwrap_or(default))
    }

    /// An optional boolean, `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, Error> {
        Ok(self.opt_with(key, Value::to_bool)?.unwrap_or(default))
    }

    /// A required string.
    pub fn string(&self, key: &str) -> Result<String, Error> {
        self.with(key, |v| v.to_str().map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: Number) -> Value {
        Value::Number(n)
    }

    #[test]
    fn parses_every_kind_of_value() {
        let v = parse(" {\"a\": [1, -2, 1.5, true, false, null, \"x\"], \"b\": {}} ").unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                (
                    "a".into(),
                    Value::Array(vec![
                        num(Number::Unsigned(1)),
                        num(Number::Negative(-2)),
                        num(Number::Other("1.5".into())),
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null,
                        Value::String("x".into()),
                    ])
                ),
                ("b".into(), Value::Object(vec![])),
            ])
        );
        assert_eq!(parse("[]").unwrap(), Value::Array(vec![]));
        assert_eq!(
            v.to_string(),
            r#"{"a":[1,-2,1.5,true,false,null,"x"],"b":{}}"#
        );
    }

    #[test]
    fn strings_resolve_every_escape() {
        let s = |t: &str| parse(t).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(s(r#""\"\\\/\b\f\n\r\t""#).unwrap(), "\"\\/\u{8}\u{c}\n\r\t");
        assert_eq!(s(r#""\u0041\u00e9\u20AC""#).unwrap(), "Aé€");
        assert_eq!(s(r#""é and 😀 raw""#).unwrap(), "é and 😀 raw");
        // A surrogate pair is one character.
        assert_eq!(s(r#""\ud83d\ude00""#).unwrap(), "😀");
        assert_eq!(s(r#""\uD834\uDD1E!""#).unwrap(), "𝄞!");
        for bad in [
            r#""\ud83d""#,
            r#""\ud83d\u0041""#,
            r#""\ud83dx""#,
            r#""\ude00""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "\"tab\there\"",
            "\"open",
            "\"\\",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Written back escaped.
        let v = Value::String("\"\\\n\u{1}é".into());
        assert_eq!(v.to_string(), r#""\"\\\n\u0001é""#);
        assert_eq!(parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn numbers_are_integers_or_their_text() {
        let n = |t: &str| match parse(t).unwrap() {
            Value::Number(n) => n,
            v => panic!("{v:?}"),
        };
        assert_eq!(n("0"), Number::Unsigned(0));
        assert_eq!(n("18446744073709551615"), Number::Unsigned(u64::MAX));
        assert_eq!(
            n("18446744073709551616"),
            Number::Other("18446744073709551616".into())
        );
        assert_eq!(n("-9223372036854775808"), Number::Negative(i64::MIN));
        assert_eq!(
            n("-9223372036854775809"),
            Number::Other("-9223372036854775809".into())
        );
        assert_eq!(n("-0"), Number::Other("-0".into()));
        assert_eq!(n("1e3"), Number::Other("1e3".into()));
        assert_eq!(n("2.50E-1"), Number::Other("2.50E-1".into()));
        for bad in [
            "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.e3", "--1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // The unsigned accessors take integers in range only.
        let v = |t: &str| parse(t).unwrap();
        assert_eq!(v("18446744073709551615").to_u64(), Ok(u64::MAX));
        assert_eq!(v("4294967295").to_u32(), Ok(u32::MAX));
        assert_eq!(
            v("4294967296").to_u32().unwrap_err().message(),
            "invalid value: integer `4294967296`, expected u32"
        );
        assert_eq!(
            v("-1").to_u64().unwrap_err().message(),
            "invalid value: integer `-1`, expected u64"
        );
        for t in ["1.0", "1e2", "-0", "18446744073709551616", "\"1\"", "null"] {
            assert!(
                v(t).to_u64()
                    .unwrap_err()
                    .message()
                    .starts_with("invalid type"),
                "{t}"
            );
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let e = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(e.message, "recursion limit exceeded");
        assert_eq!(e.offset, MAX_DEPTH);
        // Far deeper than the stack would allow without the limit: an error, not a crash.
        let objects = "{\"a\":".repeat(100_000);
        assert!(parse(&objects).is_err());
        assert!(parse(&"[".repeat(1_000_000)).is_err());
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(e.message, "expected `:`");
        assert_eq!((e.offset, e.line, e.column), (18, 3, 7));
        assert_eq!(e.to_string(), "expected `:` at line 3 column 7");
        let e = parse("[1, 2").unwrap_err();
        assert_eq!((e.message, e.offset), ("EOF while parsing a list", 5));
        let e = parse("{} x").unwrap_err();
        assert_eq!((e.message, e.column), ("trailing characters", 4));
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "nul",
            "tru",
            "[1 2]",
            "{\"a\"}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // Everything after the value must be whitespace.
        assert!(parse(" 1 \t\r\n").is_ok());
        assert!(parse("1 2").is_err());
    }

    #[test]
    fn objects_keep_order_and_refuse_repeated_or_unknown_fields() {
        const FIELDS: &[&str] = &["a", "b"];
        let v = parse(r#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
        let Value::Object(members) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].0, "b");
        assert_eq!(
            v.object("struct T", FIELDS, Unknown::Refuse)
                .unwrap_err()
                .message(),
            "duplicate field `b`"
        );
        let v = parse(r#"{"a": 1, "c": 2, "c": 3}"#).unwrap();
        assert_eq!(
            v.object("struct T", FIELDS, Unknown::Refuse)
                .unwrap_err()
                .message(),
            "unknown field `c`, expected `a` or `b`"
        );
        // Ignored members are not checked at all (as serde ignores them).
        let o = v.object("struct T", FIELDS, Unknown::Ignore).unwrap();
        assert_eq!(o.u64("a"), Ok(1));
        assert_eq!(o.u64("b").unwrap_err().message(), "missing field `b`");
        assert_eq!(o.u64_or("b", 7), Ok(7));
        assert_eq!(
            parse("[]")
                .unwrap()
                .object("struct T", FIELDS, Unknown::Ignore)
                .unwrap_err()
                .message(),
            "invalid type: sequence, expected struct T"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let v = parse(r#"{"xs": [{"n": 1}, {"n": "two"}]}"#).unwrap();
        let e = v
            .object("struct T", &["xs"], Unknown::Refuse)
            .unwrap()
            .with("xs", |xs| {
                xs.to_vec(|x| x.object("struct X", &["n"], Unknown::Refuse)?.u64("n"))
            })
            .unwrap_err();
        assert_eq!(e.path(), "xs[1].n");
        assert_eq!(e.message(), "invalid type: string \"two\", expected u64");
        assert_eq!(
            e.to_string(),
            "xs[1].n: invalid type: string \"two\", expected u64"
        );
        assert_eq!(Error::new("m").path(), ".");
        assert_eq!(Error::new("m").at_index(3).path(), "[3]");
    }

    #[test]
    fn the_writer_writes_what_serde_json_writes() {
        // Keys in sorted order: serde_json's `Value` sorts them.
        let docs = [
            r#"{"a": [], "b": {}, "c": [1, [2, []], {"d": null}], "e": true, "f": false}"#,
            r#"[{"a": 18446744073709551615, "b": "x"}, [], [[]], "", 0]"#,
            r#"{"esc": "\"\\\/\b\f\n\r\t\u0001\u001f\u007f é 😀 \ud83d\ude00"}"#,
            r#"[]"#,
            r#"{}"#,
            r#""top""#,
            r#"7"#,
        ];
        for doc in docs {
            let ours = parse(doc).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
            for pretty in [false, true] {
                let mut w = if pretty {
                    Writer::pretty()
                } else {
                    Writer::compact()
                };
                w.value(&ours);
                let want = if pretty {
                    serde_json::to_string_pretty(&theirs)
                } else {
                    serde_json::to_string(&theirs)
                };
                assert_eq!(w.finish(), want.unwrap(), "{doc} (pretty: {pretty})");
            }
        }
        // Every control character, escaped as serde_json escapes it.
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut w = Writer::compact();
        w.str(&all);
        assert_eq!(w.finish(), serde_json::to_string(&all).unwrap());
        // The field shorthands.
        let mut w = Writer::pretty();
        w.begin_object();
        w.field_u64("n", 1);
        w.field_opt_u64("none", None);
        w.field_opt_str("s", Some("x"));
        w.field_u64s("ns", &mut [1, 2].into_iter());
        w.field_pairs("ps", &mut [(3, 4)].into_iter());
        w.field_bool("b", false);
        w.end_object();
        assert_eq!(
            w.finish(),
            "{\n  \"n\": 1,\n  \"none\": null,\n  \"s\": \"x\",\n  \"ns\": [\n    1,\n    2\n  ],\n  \
             \"ps\": [\n    [\n      3,\n      4\n    ]\n  ],\n  \"b\": false\n}"
        );
    }
}
