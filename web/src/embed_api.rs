//! The embed widget's postMessage API, version 1: what a host page may ask
//! ([`parse_request`]) and what the widget says ([`Outgoing`]). Pure, tested natively; the
//! browser glue ([`crate::embed_view`]) reads a message's fields into [`Field`]s and turns
//! an [`Outgoing`] into a plain object.
//!
//! # Envelope
//! Every message, both ways, is a plain object with `logspine: 1` (the protocol version)
//! and a `type`. A host may add an `id` (a string of at most 128 characters, or a finite
//! number); the reply echoes it. Every message from the widget also names it: `widget`
//! is the `id` parameter of its link (default `logspine`), so a page with several widgets
//! can tell them apart (or compare `event.source` with each iframe's `contentWindow`).
//!
//! # Who may talk to the widget
//! The widget obeys messages only from the origins listed in its link's `origins`
//! parameter (`origins=https://docs.example,http://localhost:5000`) and from its own
//! origin. Messages from any other origin are ignored without a reply. Replies go to the
//! sender's window and origin. Unsolicited messages (`ready`, `resize`, `event`, `error`)
//! go to the parent window, at the parent's origin when the widget can tell it
//! (`location.ancestorOrigins`, else the referrer) and it is allowed; `ready` and `resize`
//! (which carry only the widget's name and height) also go to a parent that is not
//! allowed, so any page can size the frame.
//!
//! # Host → widget
//! | `type` | fields | does |
//! |--------|--------|------|
//! | `play` | `speed`? (1, 4, 16 or 64 ticks per 50 ms) | plays from the position (from the start if at the end) |
//! | `pause` | | pauses |
//! | `step` | | pauses, then steps to the next moment something happens |
//! | `seek` | `position`: events (a whole number), `"start"` or `"end"` | pauses, then goes to the first point with at least that many events (running the world on if needed) |
//! | `load` | `scenario`: a library name, or a scenario object (the JSON format of `core/scenarios/`); `seed`? (a whole number, or a string of digits for seeds past 2⁵³) | pauses and loads it |
//! | `get_state` | | nothing: the reply carries the state |
//!
//! Every request is answered with `{ logspine: 1, type: "reply", id, widget, request, state }`
//! or `{ logspine: 1, type: "error", id, widget, code, message }`. `state`:
//! `{ scenario, title, seed, position, trace_length, time, end_tick, finished, playing,
//! trace_hash, narration_reached, narration_steps, invariants }` — `seed` is a string of
//! digits (seeds are 64-bit), `trace_hash` is 16 hex digits: the FNV-1a hash of the trace
//! up to the position, the same as `logspine run <scenario> --seed <seed>` prints at the
//! end of a run; `invariants` is `none`, `ok` or `failed`.
//!
//! # Widget → host, unsolicited
//! * `ready` `{ version: 1, widget, state? }` once the first scenario is loaded;
//! * `resize` `{ widget, height }` whenever the widget's height (CSS pixels) changes:
//!   set the iframe's height to it;
//! * `event` `{ widget, name, state, ... }`: `loaded`, `play`, `pause`, `narration`
//!   (with `step`, from 1, and `text`), `finished`;
//! * `error` `{ widget, id: null, code, message }`: the link's parameters were malformed
//!   (code `bad_parameter`), or a scenario failed to load.
//!
//! # Error codes
//! `malformed` (not an object, or a field of the wrong type), `unsupported_version`,
//! `unknown_type`, `bad_field` (a field out of range), `load_failed`.

use logspine_core::vec_map::VecMap;

use crate::decimal;

/// The protocol version this widget speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The longest `id` echoed.
pub const MAX_ID_CHARS: usize = 128;
/// The longest library scenario name looked up.
const MAX_NAME_CHARS: usize = 64;
/// The request types, as the `unknown_type` error lists them.
pub const TYPES: [&str; 6] = ["play", "pause", "step", "seek", "load", "get_state"];

/// A field of an incoming message, as the browser glue reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// `null` or `undefined`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// An object or array, as JSON text (`None`: it could not be serialized, for example a
    /// cycle).
    Object(Option<String>),
    /// Anything else (a function, a symbol, a bigint), by its `typeof`.
    Other(String),
}

impl Field {
    /// What it is, for error messages.
    fn kind(&self) -> &str {
        match self {
            Field::Null => "null",
            Field::Bool(_) => "a boolean",
            Field::Number(_) => "a number",
            Field::Text(_) => "a string",
            Field::Object(_) => "an object",
            Field::Other(t) => t,
        }
    }
}

/// A request's `id`, echoed in its reply.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageId {
    /// A string id.
    Text(String),
    /// A number id.
    Number(f64),
}

/// Where a seek goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekTarget {
    /// The first point with at least this many events.
    Position(u64),
    /// The start.
    Start,
    /// The end of the run.
    End,
}

/// The scenario a `load` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioSource {
    /// A library scenario's name.
    Library(String),
    /// A scenario as JSON text.
    Json(String),
}

/// What a host asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Play, optionally at a new speed.
    Play {
        /// Ticks per play interval.
        speed: Option<u32>,
    },
    /// Pause.
    Pause,
    /// Step to the next moment something happens.
    Step,
    /// Seek.
    Seek(SeekTarget),
    /// Load a scenario.
    Load {
        /// Which.
        scenario: ScenarioSource,
        /// With which seed (`None`: its own).
        seed: Option<u64>,
    },
    /// Read the state.
    GetState,
}

impl Request {
    /// The request's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Play { .. } => "play",
            Request::Pause => "pause",
            Request::Step => "step",
            Request::Seek(_) => "seek",
            Request::Load { .. } => "load",
            Request::GetState => "get_state",
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not an object, or a field of the wrong type.
    Malformed,
    /// `logspine` is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// `type` is not one of [`TYPES`].
    UnknownType,
    /// A field's value is out of range.
    BadField,
    /// The scenario did not load.
    LoadFailed,
    /// A parameter of the widget's link was malformed.
    BadParameter,
}

impl ErrorCode {
    /// The `code` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadField => "bad_field",
            ErrorCode::LoadFailed => "load_failed",
            ErrorCode::BadParameter => "bad_parameter",
        }
    }
}

/// A refusal: the code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// A parsed request and its id.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// The id to echo.
    pub id: Option<MessageId>,
    /// What is asked.
    pub request: Request,
}

/// The message's id, if it has a usable one (an error reply echoes it too).
pub fn message_id(fields: &VecMap<String, Field>) -> Result<Option<MessageId>, ApiError> {
    match fields.get("id") {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Text(s)) if s.chars().count() <= MAX_ID_CHARS => {
            Ok(Some(MessageId::Text(s.clone())))
        }
        Some(Field::Text(_)) => Err(ApiError::new(
            ErrorCode::BadField,
            format!("id: at most {MAX_ID_CHARS} characters"),
        )),
        Some(Field::Number(n)) if n.is_finite() => Ok(Some(MessageId::Number(*n))),
        Some(other) => Err(ApiError::new(
            ErrorCode::Malformed,
            format!(
                "id: must be a string or a finite number, not {}",
                other.kind()
            ),
        )),
    }
}

/// A whole number in `0..=max` from a JSON number (exact below 2⁵³) or a string of digits.
fn whole(field: &Field, what: &str, max: u64) -> Result<u64, ApiError> {
    const EXACT: f64 = 9_007_199_254_740_991.0; // 2^53 - 1
    let n = match field {
        Field::Number(n) if n.fract() == 0.0 && (0.0..=EXACT).contains(n) => {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a whole number in 0..2^53, checked just above"
            )]
            let n = *n as u64;
            Some(n)
        }
        Field::Text(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<u64>().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if n <= max => Ok(n),
        _ => Err(ApiError::new(
            if matches!(field, Field::Number(_) | Field::Text(_)) {
                ErrorCode::BadField
            } else {
                ErrorCode::Malformed
            },
            format!(
                "{what}: must be a whole number from 0 to {max}, not {}",
                describe(field)
            ),
        )),
    }
}

/// A field's value quoted briefly in an error.
fn describe(field: &Field) -> String {
    match field {
        Field::Number(n) => decimal::shortest(*n),
        Field::Text(s) => {
            let short: String = s.chars().take(40).collect();
            format!("{short:?}{}", if s.chars().count() > 40 { "…" } else { "" })
        }
        other => other.kind().to_owned(),
    }
}

/// Parses a message's fields into a request; an error carries the id when it was readable.
pub fn parse_request(
    fields: &VecMap<String, Field>,
    speeds: &[u32],
) -> Result<Incoming, (Option<MessageId>, ApiError)> {
    let id = message_id(fields).map_err(|e| (None, e))?;
    let fail = |e: ApiError| (id.clone(), e);
    match fields.get("logspine") {
        Some(Field::Number(v)) if *v == f64::from(PROTOCOL_VERSION) => {}
        Some(Field::Number(v)) => {
            return Err(fail(ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "logspine: version {} is not supported (this widget speaks version {PROTOCOL_VERSION})",
                    decimal::shortest(*v)
                ),
            )))
        }
        None => {
            return Err(fail(ApiError::new(
                ErrorCode::Malformed,
                format!("a message needs the field logspine: {PROTOCOL_VERSION} (the protocol version)"),
            )))
        }
        Some(other) => {
            return Err(fail(ApiError::new(
                ErrorCode::Malformed,
                format!("logspine: must be the number {PROTOCOL_VERSION}, not {}", other.kind()),
            )))
        }
    }
    let kind = match fields.get("type") {
        Some(Field::Text(t)) => t.as_str(),
        Some(other) => {
            return Err(fail(ApiError::new(
                ErrorCode::Malformed,
                format!("type: must be a string, not {}", other.kind()),
            )))
        }
        None => {
            return Err(fail(ApiError::new(
                ErrorCode::Malformed,
                format!("a message needs a type: one of {}", TYPES.join(", ")),
            )))
        }
    };
    let request = match kind {
        "play" => {
            let speed = match fields.get("speed") {
                None | Some(Field::Null) => None,
                Some(f) => {
                    let s = whole(f, "speed", u64::from(u32::MAX)).map_err(fail)?;
                    match speeds.iter().copied().find(|&v| u64::from(v) == s) {
                        Some(v) => Some(v),
                        None => {
                            return Err(fail(ApiError::new(
                                ErrorCode::BadField,
                                format!(
                                    "speed: must be one of {}, not {s}",
                                    speeds
                                        .iter()
                                        .map(u32::to_string)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )))
                        }
                    }
                }
            };
            Request::Play { speed }
        }
        "pause" => Request::Pause,
        "step" => Request::Step,
        "get_state" => Request::GetState,
        "seek" => {
            let target = match fields.get("position") {
                Some(Field::Text(s)) if s == "start" => SeekTarget::Start,
                Some(Field::Text(s)) if s == "end" => SeekTarget::End,
                Some(f @ (Field::Number(_) | Field::Text(_))) => {
                    SeekTarget::Position(whole(f, "position", u64::MAX).map_err(fail)?)
                }
                Some(other) => {
                    return Err(fail(ApiError::new(
                        ErrorCode::Malformed,
                        format!(
                            "position: must be a whole number, \"start\" or \"end\", not {}",
                            other.kind()
                        ),
                    )))
                }
                None => {
                    return Err(fail(ApiError::new(
                        ErrorCode::Malformed,
                        "seek needs a position: a whole number of events, \"start\" or \"end\"",
                    )))
                }
            };
            Request::Seek(target)
        }
        "load" => {
            let scenario = match fields.get("scenario") {
                Some(Field::Text(name)) => {
                    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                        return Err(fail(ApiError::new(
                            ErrorCode::BadField,
                            format!("scenario: a library name is 1 to {MAX_NAME_CHARS} characters"),
                        )));
                    }
                    ScenarioSource::Library(name.clone())
                }
                Some(Field::Object(Some(json))) => ScenarioSource::Json(json.clone()),
                Some(Field::Object(None)) => {
                    return Err(fail(ApiError::new(
                        ErrorCode::Malformed,
                        "scenario: the object could not be read as JSON",
                    )))
                }
                Some(other) => {
                    return Err(fail(ApiError::new(
                        ErrorCode::Malformed,
                        format!(
                            "scenario: must be a library name or a scenario object, not {}",
                            other.kind()
                        ),
                    )))
                }
                None => {
                    return Err(fail(ApiError::new(
                        ErrorCode::Malformed,
                        "load needs a scenario: a library name or a scenario object",
                    )))
                }
            };
            let seed = match fields.get("seed") {
                None | Some(Field::Null) => None,
                Some(f) => Some(whole(f, "seed", u64::MAX).map_err(fail)?),
            };
            Request::Load { scenario, seed }
        }
        other => {
            return Err(fail(ApiError::new(
                ErrorCode::UnknownType,
                format!(
                    "type {}: not a request this widget knows ({})",
                    describe(&Field::Text(other.to_owned())),
                    TYPES.join(", ")
                ),
            )))
        }
    };
    Ok(Incoming { id, request })
}

/// A value in an outgoing message.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (every number sent is a whole number below 2⁵³, or an echoed id).
    Number(f64),
    /// A string.
    Text(String),
    /// An object, its fields in order.
    Object(Vec<(&'static str, Value)>),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        // Counts and positions stay far below 2^53; a larger one would lose precision, so
        // it goes as a string of digits instead.
        if n < (1 << 53) {
            #[expect(
                clippy::cast_precision_loss,
                reason = "below 2^53, exactly representable"
            )]
            let f = n as f64;
            Value::Number(f)
        } else {
            Value::Text(n.to_string())
        }
    }
}

impl From<&MessageId> for Value {
    fn from(id: &MessageId) -> Value {
        match id {
            MessageId::Text(s) => Value::Text(s.clone()),
            MessageId::Number(n) => Value::Number(*n),
        }
    }
}

/// What the widget reports as its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WidgetState {
    /// The scenario's name.
    pub scenario: String,
    /// Its title.
    pub title: String,
    /// The seed.
    pub seed: u64,
    /// Events up to the position.
    pub position: u64,
    /// Events recorded.
    pub trace_length: u64,
    /// Virtual time at the position.
    pub time: u64,
    /// The scenario's end tick.
    pub end_tick: u64,
    /// The run is over.
    pub finished: bool,
    /// Playing.
    pub playing: bool,
    /// The trace hash up to the position.
    pub trace_hash: u64,
    /// Narration steps reached.
    pub narration_reached: u64,
    /// Narration steps in all.
    pub narration_steps: u64,
    /// `none`, `ok` or `failed`.
    pub invariants: &'static str,
}

impl WidgetState {
    /// As a message field.
    pub fn value(&self) -> Value {
        Value::Object(vec![
            ("scenario", Value::Text(self.scenario.clone())),
            ("title", Value::Text(self.title.clone())),
            ("seed", Value::Text(self.seed.to_string())),
            ("position", self.position.into()),
            ("trace_length", self.trace_length.into()),
            ("time", self.time.into()),
            ("end_tick", self.end_tick.into()),
            ("finished", Value::Bool(self.finished)),
            ("playing", Value::Bool(self.playing)),
            (
                "trace_hash",
                Value::Text(format!("{:016x}", self.trace_hash)),
            ),
            ("narration_reached", self.narration_reached.into()),
            ("narration_steps", self.narration_steps.into()),
            ("invariants", Value::Text(self.invariants.to_owned())),
        ])
    }
}

/// A message from the widget (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// `type`.
    pub kind: &'static str,
    /// Fields after `logspine`, `type` and `widget`.
    pub fields: Vec<(&'static str, Value)>,
}

impl Outgoing {
    /// The whole message: `{ logspine, type, widget, ...fields }`.
    pub fn value(&self, widget: &str) -> Value {
        let mut all = vec![
            ("logspine", Value::from(u64::from(PROTOCOL_VERSION))),
            ("type", Value::Text(self.kind.to_owned())),
            ("widget", Value::Text(widget.to_owned())),
        ];
        all.extend(self.fields.iter().cloned());
        Value::Object(all)
    }

    /// The reply to a request.
    pub fn reply(id: Option<&MessageId>, request: &Request, state: &WidgetState) -> Outgoing {
        Outgoing {
            kind: "reply",
            fields: vec![
                ("id", id.map_or(Value::Null, Value::from)),
                ("request", Value::Text(request.name().to_owned())),
                ("state", state.value()),
            ],
        }
    }

    /// An error (a reply to a request when `id` is its id, else unsolicited).
    pub fn error(id: Option<&MessageId>, error: &ApiError) -> Outgoing {
        Outgoing {
            kind: "error",
            fields: vec![
                ("id", id.map_or(Value::Null, Value::from)),
                ("code", Value::Text(error.code.as_str().to_owned())),
                ("message", Value::Text(error.message.clone())),
            ],
        }
    }

    /// `ready`, with the state when the parent may read it.
    pub fn ready(state: Option<&WidgetState>) -> Outgoing {
        let mut fields = vec![("version", Value::from(u64::from(PROTOCOL_VERSION)))];
        if let Some(s) = state {
            fields.push(("state", s.value()));
        }
        Outgoing {
            kind: "ready",
            fields,
        }
    }

    /// `resize`.
    pub fn resize(height: u32) -> Outgoing {
        Outgoing {
            kind: "resize",
            fields: vec![("height", u64::from(height).into())],
        }
    }

    /// An `event` named `name` with `extra` fields.
    pub fn event(
        name: &'static str,
        state: &WidgetState,
        extra: Vec<(&'static str, Value)>,
    ) -> Outgoing {
        let mut fields = vec![("name", Value::Text(name.to_owned()))];
        fields.extend(extra);
        fields.push(("state", state.value()));
        Outgoing {
            kind: "event",
            fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEEDS: [u32; 4] = [1, 4, 16, 64];

    fn msg(fields: &[(&str, Field)]) -> VecMap<String, Field> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn v1(kind: &str, more: &[(&str, Field)]) -> VecMap<String, Field> {
        let mut m = msg(more);
        m.insert("logspine".into(), Field::Number(1.0));
        m.insert("type".into(), Field::Text(kind.into()));
        m
    }

    fn parse(m: &VecMap<String, Field>) -> Result<Request, (Option<MessageId>, ErrorCode, String)> {
        parse_request(m, &SPEEDS)
            .map(|i| i.request)
            .map_err(|(id, e)| (id, e.code, e.message))
    }

    #[test]
    fn every_request_type_parses() {
        assert_eq!(parse(&v1("play", &[])), Ok(Request::Play { speed: None }));
        assert_eq!(
            parse(&v1("play", &[("speed", Field::Number(64.0))])),
            Ok(Request::Play { speed: Some(64) })
        );
        assert_eq!(parse(&v1("pause", &[])), Ok(Request::Pause));
        assert_eq!(parse(&v1("step", &[])), Ok(Request::Step));
        assert_eq!(parse(&v1("get_state", &[])), Ok(Request::GetState));
        assert_eq!(
            parse(&v1("seek", &[("position", Field::Number(120.0))])),
            Ok(Request::Seek(SeekTarget::Position(120)))
        );
        assert_eq!(
            parse(&v1(
                "seek",
                &[("position", Field::Text("18446744073709551615".into()))]
            )),
            Ok(Request::Seek(SeekTarget::Position(u64::MAX)))
        );
        assert_eq!(
            parse(&v1("seek", &[("position", Field::Text("end".into()))])),
            Ok(Request::Seek(SeekTarget::End))
        );
        assert_eq!(
            parse(&v1("seek", &[("position", Field::Text("start".into()))])),
            Ok(Request::Seek(SeekTarget::Start))
        );
        assert_eq!(
            parse(&v1(
                "load",
                &[
                    ("scenario", Field::Text("group-commit".into())),
                    ("seed", Field::Number(5.0))
                ]
            )),
            Ok(Request::Load {
                scenario: ScenarioSource::Library("group-commit".into()),
                seed: Some(5)
            })
        );
        assert_eq!(
            parse(&v1(
                "load",
                &[("scenario", Field::Object(Some("{}".into())))]
            )),
            Ok(Request::Load {
                scenario: ScenarioSource::Json("{}".into()),
                seed: None
            })
        );
    }

    #[test]
    fn ids_are_echoed_and_checked() {
        let mut m = v1("pause", &[("id", Field::Text("a-1".into()))]);
        assert_eq!(
            parse_request(&m, &SPEEDS).unwrap().id,
            Some(MessageId::Text("a-1".into()))
        );
        m.insert("id".into(), Field::Number(7.0));
        assert_eq!(
            parse_request(&m, &SPEEDS).unwrap().id,
            Some(MessageId::Number(7.0))
        );
        m.insert("id".into(), Field::Number(f64::NAN));
        assert_eq!(parse(&m).unwrap_err().1, ErrorCode::Malformed);
        m.insert("id".into(), Field::Text("x".repeat(MAX_ID_CHARS + 1)));
        assert_eq!(parse(&m).unwrap_err().1, ErrorCode::BadField);
        // An error after the id was read echoes it.
        let m = v1("seek", &[("id", Field::Number(3.0))]);
        let (id, code, message) = parse(&m).unwrap_err();
        assert_eq!(id, Some(MessageId::Number(3.0)));
        assert_eq!(code, ErrorCode::Malformed);
        assert!(message.contains("seek needs a position"), "{message}");
    }

    #[test]
    fn malformed_requests_are_refused_with_a_code_and_a_reason() {
        let cases: Vec<(VecMap<String, Field>, ErrorCode, &str)> = vec![
            (
                msg(&[("type", Field::Text("play".into()))]),
                ErrorCode::Malformed,
                "needs the field logspine",
            ),
            (
                msg(&[
                    ("logspine", Field::Number(2.0)),
                    ("type", Field::Text("play".into())),
                ]),
                ErrorCode::UnsupportedVersion,
                "version 2 is not supported",
            ),
            (
                msg(&[
                    ("logspine", Field::Text("1".into())),
                    ("type", Field::Text("play".into())),
                ]),
                ErrorCode::Malformed,
                "must be the number 1",
            ),
            (
                msg(&[("logspine", Field::Number(1.0))]),
                ErrorCode::Malformed,
                "needs a type",
            ),
            (
                msg(&[
                    ("logspine", Field::Number(1.0)),
                    ("type", Field::Number(3.0)),
                ]),
                ErrorCode::Malformed,
                "type: must be a string",
            ),
            (
                v1("<script>", &[]),
                ErrorCode::UnknownType,
                "not a request this widget knows",
            ),
            (
                v1("play", &[("speed", Field::Number(5.0))]),
                ErrorCode::BadField,
                "speed: must be one of",
            ),
            (
                v1("play", &[("speed", Field::Number(-4.0))]),
                ErrorCode::BadField,
                "whole number",
            ),
            (
                v1("play", &[("speed", Field::Bool(true))]),
                ErrorCode::Malformed,
                "a boolean",
            ),
            (
                v1("seek", &[("position", Field::Number(1.5))]),
                ErrorCode::BadField,
                "whole number",
            ),
            (
                v1("seek", &[("position", Field::Number(1e300))]),
                ErrorCode::BadField,
                "whole number",
            ),
            (
                v1("seek", &[("position", Field::Text("soon".into()))]),
                ErrorCode::BadField,
                "\"soon\"",
            ),
            (
                v1("seek", &[("position", Field::Object(Some("[]".into())))]),
                ErrorCode::Malformed,
                "an object",
            ),
            (
                v1("load", &[]),
                ErrorCode::Malformed,
                "load needs a scenario",
            ),
            (
                v1("load", &[("scenario", Field::Text(String::new()))]),
                ErrorCode::BadField,
                "1 to 64",
            ),
            (
                v1("load", &[("scenario", Field::Number(1.0))]),
                ErrorCode::Malformed,
                "not a number",
            ),
            (
                v1("load", &[("scenario", Field::Object(None))]),
                ErrorCode::Malformed,
                "could not be read",
            ),
            (
                v1(
                    "load",
                    &[
                        ("scenario", Field::Text("x".into())),
                        ("seed", Field::Text("-1".into())),
                    ],
                ),
                ErrorCode::BadField,
                "seed: must be a whole number",
            ),
            (
                v1(
                    "load",
                    &[
                        ("scenario", Field::Text("x".into())),
                        ("seed", Field::Other("bigint".into())),
                    ],
                ),
                ErrorCode::Malformed,
                "not bigint",
            ),
        ];
        for (m, code, needle) in cases {
            let (_, got, message) = parse(&m).expect_err(&format!("{m:?}"));
            assert_eq!(got, code, "{m:?}: {message}");
            assert!(
                message.contains(needle),
                "{m:?}: {message:?} lacks {needle:?}"
            );
        }
    }

    #[test]
    fn outgoing_messages_carry_the_envelope_and_exact_numbers() {
        let state = WidgetState {
            scenario: "group-commit".into(),
            title: "T".into(),
            seed: u64::MAX,
            position: 12,
            trace_length: 40,
            time: 3,
            end_tick: 600,
            finished: false,
            playing: true,
            trace_hash: 0xab,
            narration_reached: 1,
            narration_steps: 3,
            invariants: "none",
        };
        let reply =
            Outgoing::reply(Some(&MessageId::Number(4.0)), &Request::Step, &state).value("w1");
        let Value::Object(fields) = reply else {
            panic!("an object")
        };
        let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(get("logspine"), Some(Value::Number(1.0)));
        assert_eq!(get("type"), Some(Value::Text("reply".into())));
        assert_eq!(get("widget"), Some(Value::Text("w1".into())));
        assert_eq!(get("id"), Some(Value::Number(4.0)));
        assert_eq!(get("request"), Some(Value::Text("step".into())));
        let Some(Value::Object(s)) = get("state") else {
            panic!("a state")
        };
        let sget = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(
            sget("seed"),
            Some(Value::Text("18446744073709551615".into()))
        );
        assert_eq!(
            sget("trace_hash"),
            Some(Value::Text("00000000000000ab".into()))
        );
        assert_eq!(sget("position"), Some(Value::Number(12.0)));
        assert_eq!(
            Value::from(1u64 << 53),
            Value::Text("9007199254740992".into())
        );
        let err = Outgoing::error(None, &ApiError::new(ErrorCode::BadParameter, "x")).value("w");
        let Value::Object(e) = err else { panic!() };
        assert!(e.contains(&("id", Value::Null)));
        assert!(e.contains(&("code", Value::Text("bad_parameter".into()))));
    }
}
