//! Share links and run files: a scenario run written down so that opening it reproduces
//! the run exactly.
//!
//! A run is a library scenario, a seed, the actions applied by hand (each with the tick
//! it was applied at: the world is deterministic, so replaying them at the same ticks
//! gives the same trace, byte for byte) and the position on the timeline. That is all a
//! link carries; the trace is recomputed, and its hash is the proof.
//!
//! # Link format, version 1
//! The URL fragment `#run=1.<payload>`, where the payload is base64url (no padding) of the
//! JSON `{"s": name, "seed": n, "p": position, "a": [[tick, action], ...]}` (actions in
//! the scenario format's JSON). The fragment never reaches a server. A link that is
//! truncated, damaged, from another version, names an unknown scenario or carries an
//! impossible action decodes to a [`LinkError`] whose message says what is wrong; the
//! page shows it and offers the default scenario.
//!
//! # Run file (export / import)
//! [`RunFile`]: the same fields plus the trace as JSON lines and its hash
//! ([`trace_hash`]). Importing replays the actions and refuses the file when the replayed
//! trace's hash differs from the file's (a file edited by hand, or made by a build whose
//! engine behaves differently).

use logspine_core::json::{self, Unknown, Value, Writer};
use logspine_core::world::{library, trace_hash, Action, TraceEvent};

/// The link format's version.
pub const LINK_VERSION: u32 = 1;
/// The run file format's version.
pub const FILE_VERSION: u32 = 1;
/// The longest payload accepted (a link is not a file).
pub const MAX_LINK_BYTES: usize = 64 * 1024;
/// The most hand-applied actions a link or file may carry.
pub const MAX_ACTIONS: usize = 10_000;

/// An action applied by hand at a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandAction {
    /// The world's time when it was applied.
    pub tick: u64,
    /// The action.
    pub action: Action,
}

impl HandAction {
    /// Reads `{"tick": t, "action": action}` (other members are ignored).
    pub fn from_json(v: &Value) -> Result<HandAction, json::Error> {
        let o = v.object("struct HandAction", &["tick", "action"], Unknown::Ignore)?;
        Ok(HandAction {
            tick: o.u64("tick")?,
            action: o.with("action", Action::from_json)?,
        })
    }
}

/// A run, as a link carries it (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLink {
    /// The library scenario.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The timeline position (events up to it).
    pub position: u64,
    /// The hand-applied actions, in the order applied (ticks nondecreasing).
    pub actions: Vec<HandAction>,
}

/// Why a link or run file cannot be opened. The message is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError(pub String);

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, LinkError> {
    Err(LinkError(msg.into()))
}

impl RunLink {
    /// The fragment, without `#`: `run=1.<payload>`.
    pub fn to_fragment(&self) -> String {
        // {"s": name, "seed": n, "p": position, "a": [[tick, action], ...]}
        let mut w = Writer::compact();
        w.begin_object();
        w.field_str("s", &self.scenario);
        w.field_u64("seed", self.seed);
        w.field_u64("p", self.position);
        w.key("a");
        w.begin_array();
        for h in &self.actions {
            w.begin_array();
            w.u64(h.tick);
            h.action.write_json(&mut w);
            w.end_array();
        }
        w.end_array();
        w.end_object();
        let json = w.finish();
        format!("run={LINK_VERSION}.{}", base64url_encode(json.as_bytes()))
    }

    /// Reads a fragment (with or without the leading `#`). `Ok(None)`: the fragment is not
    /// a run link at all (empty, or about something else).
    pub fn from_fragment(fragment: &str) -> Result<Option<RunLink>, LinkError> {
        let link = RunLink::parse_fragment(fragment)?;
        if let Some(link) = &link {
            link.check()?;
        }
        Ok(link)
    }

    /// Reads a fragment without [`RunLink::check`]ing it against the library (a run of a
    /// scenario the page builds itself, as the pipeline's session, checks its actions
    /// with [`RunLink::check_actions`]).
    pub fn parse_fragment(fragment: &str) -> Result<Option<RunLink>, LinkError> {
        let f = fragment.strip_prefix('#').unwrap_or(fragment);
        let Some(rest) = f.strip_prefix("run=") else {
            return Ok(None);
        };
        if rest.len() > MAX_LINK_BYTES {
            return err(format!(
                "This link is too long ({} bytes; at most {MAX_LINK_BYTES}).",
                rest.len()
            ));
        }
        let Some((version, body)) = rest.split_once('.') else {
            return err("This link is damaged: it has no version (expected run=1.…).");
        };
        match version.parse::<u32>() {
            Ok(LINK_VERSION) => {}
            Ok(v) => {
                return err(format!(
                    "This link was made by another version of Logspine (link version {v}; \
                     this page reads version {LINK_VERSION})."
                ))
            }
            Err(_) => return err("This link is damaged: its version is not a number."),
        }
        let Some(bytes) = base64url_decode(body) else {
            return err(
                "This link is damaged or cut short: its data is not valid base64url. \
                 Copy the whole link again.",
            );
        };
        let link = std::str::from_utf8(&bytes)
            .map_err(|_| json::Error::new("invalid unicode code point"))
            .and_then(|text| Ok(json::parse(text)?))
            .and_then(|v| RunLink::from_payload(&v))
            .map_err(|e| {
                LinkError(format!(
                    "This link is damaged or cut short (its data does not parse: {e})."
                ))
            })?;
        Ok(Some(link))
    }

    /// Reads the payload's JSON (`a` may be absent; unknown fields are errors).
    fn from_payload(v: &Value) -> Result<RunLink, json::Error> {
        let o = v.object("struct Payload", &["s", "seed", "p", "a"], Unknown::Refuse)?;
        Ok(RunLink {
            scenario: o.string("s")?,
            seed: o.u64("seed")?,
            position: o.u64("p")?,
            actions: o
                .opt_with("a", |a| {
                    a.to_vec(|pair| {
                        let (tick, action) = pair.to_pair("a tuple of size 2")?;
                        Ok(HandAction {
                            tick: tick.to_u64().map_err(|e| e.at_index(0))?,
                            action: Action::from_json(action).map_err(|e| e.at_index(1))?,
                        })
                    })
                })?
                .unwrap_or_default(),
        })
    }

    /// Checks what parsing cannot: a known scenario, possible actions in tick order.
    pub fn check(&self) -> Result<(), LinkError> {
        if library::scenario(&self.scenario).is_none() {
            return err(format!(
                "This link names a scenario this page does not have ({:?}).",
                self.scenario
            ));
        }
        self.check_actions()
    }

    /// Checks the actions alone: not too many, each possible, in tick order (a run whose
    /// scenario is not the library's, as the pipeline's, is checked by this).
    pub fn check_actions(&self) -> Result<(), LinkError> {
        if self.actions.len() > MAX_ACTIONS {
            return err(format!(
                "This run has {} hand-applied actions; at most {MAX_ACTIONS}.",
                self.actions.len()
            ));
        }
        let mut last = 0;
        for (i, h) in self.actions.iter().enumerate() {
            if let Err(e) = h.action.check() {
                return err(format!("Action {} of this link is impossible: {e}", i + 1));
            }
            if h.tick < last {
                return err(format!(
                    "Action {} of this link is out of order (tick {} after tick {last}).",
                    i + 1,
                    h.tick
                ));
            }
            last = h.tick;
        }
        Ok(())
    }
}

/// An exported run (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFile {
    /// [`FILE_VERSION`].
    pub logspine_run: u32,
    /// The library scenario.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The timeline position.
    pub position: u64,
    /// Hand-applied actions.
    pub actions: Vec<HandAction>,
    /// The trace up to the frontier, one JSON object per line.
    pub trace: String,
    /// [`trace_hash`] of that trace, as 16 hex digits.
    pub trace_hash: String,
}

impl RunFile {
    /// The file for a run and its trace.
    pub fn new(link: &RunLink, trace: &[TraceEvent]) -> RunFile {
        let mut lines = String::new();
        for e in trace {
            lines.push_str(&e.to_json());
            lines.push('\n');
        }
        RunFile {
            logspine_run: FILE_VERSION,
            scenario: link.scenario.clone(),
            seed: link.seed,
            position: link.position,
            actions: link.actions.clone(),
            trace: lines,
            trace_hash: format!("{:016x}", trace_hash(trace)),
        }
    }

    /// The file's text (pretty JSON).
    pub fn to_json(&self) -> String {
        let mut w = Writer::pretty();
        w.begin_object();
        w.field_u64("logspine_run", u64::from(self.logspine_run));
        w.field_str("scenario", &self.scenario);
        w.field_u64("seed", self.seed);
        w.field_u64("position", self.position);
        w.key("actions");
        w.begin_array();
        for h in &self.actions {
            w.begin_object();
            w.field_u64("tick", h.tick);
            w.key("action");
            h.action.write_json(&mut w);
            w.end_object();
        }
        w.end_array();
        w.field_str("trace", &self.trace);
        w.field_str("trace_hash", &self.trace_hash);
        w.end_object();
        w.finish()
    }

    /// Reads a file's text; checks the version and the actions (not yet the hash: that
    /// needs the replay, [`RunFile::verify`]).
    pub fn from_json(text: &str) -> Result<RunFile, LinkError> {
        let value = json::parse(text)
            .map_err(|e| LinkError(format!("This file is not a Logspine run file: {e}.")))?;
        // The version first, so a file from another version is named as such rather
        // than refused for a field this build does not know.
        match value.get("logspine_run") {
            _ if !matches!(value, Value::Object(_)) => {
                return err("This file is not a Logspine run file (not a JSON object).")
            }
            None | Some(Value::Null) => {
                return err("This is not a Logspine run file (no \"logspine_run\" field).")
            }
            Some(v) => match v.to_u32() {
                Ok(FILE_VERSION) => {}
                Ok(v) => {
                    return err(format!(
                        "This run file has version {v}; this page reads version {FILE_VERSION}."
                    ))
                }
                Err(e) => {
                    return err(format!(
                        "This file is not a Logspine run file: {}.",
                        e.at_key("logspine_run")
                    ))
                }
            },
        }
        let file = RunFile::from_value(&value)
            .map_err(|e| LinkError(format!("This run file is damaged: {e}.")))?;
        file.link().check()?;
        Ok(file)
    }

    /// Reads the file's fields (all required; unknown fields are errors).
    fn from_value(v: &Value) -> Result<RunFile, json::Error> {
        let o = v.object(
            "struct RunFile",
            &[
                "logspine_run",
                "scenario",
                "seed",
                "position",
                "actions",
                "trace",
                "trace_hash",
            ],
            Unknown::Refuse,
        )?;
        Ok(RunFile {
            logspine_run: o.u32("logspine_run")?,
            scenario: o.string("scenario")?,
            seed: o.u64("seed")?,
            position: o.u64("position")?,
            actions: o.with("actions", |a| a.to_vec(HandAction::from_json))?,
            trace: o.string("trace")?,
            trace_hash: o.string("trace_hash")?,
        })
    }

    /// The run the file describes.
    pub fn link(&self) -> RunLink {
        RunLink {
            scenario: self.scenario.clone(),
            seed: self.seed,
            position: self.position,
            actions: self.actions.clone(),
        }
    }

    /// Checks a replayed trace against the file's hash.
    pub fn verify(&self, replayed: &[TraceEvent]) -> Result<(), LinkError> {
        let got = format!("{:016x}", trace_hash(replayed));
        if got == self.trace_hash {
            Ok(())
        } else {
            err(format!(
                "Replaying this run gives trace hash {got}, but the file records {}: the file \
                 was changed, or was made by an engine that behaves differently.",
                self.trace_hash
            ))
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 4648 §5).
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The inverse of [`base64url_encode`]; `None` for a character outside the alphabet or an
/// impossible length (one character past a group).
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u32> = text
        .bytes()
        .map(|c| {
            ALPHABET
                .iter()
                .position(|a| *a == c)
                .and_then(|p| u32::try_from(p).ok())
        })
        .collect::<Option<_>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)).to_le_bytes()[0]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        for n in 0..data.len() {
            let e = base64url_encode(&data[..n]);
            assert!(!e.contains('=') && !e.contains('+') && !e.contains('/'));
            assert_eq!(
                base64url_decode(&e).as_deref(),
                Some(&data[..n]),
                "length {n}"
            );
        }
        assert_eq!(base64url_encode(b"Man"), "TWFu");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("TWF"), Some(b"Ma".to_vec()));
        assert_eq!(base64url_decode("T"), None);
        assert_eq!(base64url_decode("TW+u"), None);
    }

    fn link() -> RunLink {
        RunLink {
            scenario: "log-is-the-truth".into(),
            seed: 42,
            position: 17,
            actions: vec![
                HandAction {
                    tick: 3,
                    action: Action::Write {
                        key: "k".into(),
                        value: "<b>v</b>".into(),
                    },
                },
                HandAction {
                    tick: 9,
                    action: Action::Crash,
                },
            ],
        }
    }

    #[test]
    fn a_link_round_trips() {
        let l = link();
        let f = l.to_fragment();
        assert!(f.starts_with("run=1."), "{f}");
        assert_eq!(RunLink::from_fragment(&f).unwrap(), Some(l.clone()));
        assert_eq!(RunLink::from_fragment(&format!("#{f}")).unwrap(), Some(l));
        assert_eq!(RunLink::from_fragment("").unwrap(), None);
        assert_eq!(RunLink::from_fragment("#section-2").unwrap(), None);
    }

    #[test]
    fn every_truncation_of_a_link_is_a_clear_error_or_the_same_link() {
        let l = link();
        let f = l.to_fragment();
        for n in 0..f.len() {
            match RunLink::from_fragment(&f[..n]) {
                Ok(None) => assert!(n < 4, "{n}"),
                Ok(Some(got)) => panic!("a truncated link ({n} of {}) opened: {got:?}", f.len()),
                Err(e) => assert!(e.0.starts_with("This link"), "{n}: {e}"),
            }
        }
    }

    #[test]
    fn damaged_links_say_what_is_wrong() {
        let msg = |s: &str| RunLink::from_fragment(s).unwrap_err().0;
        assert!(msg("run=2.e30").contains("another version"));
        assert!(msg("run=x.e30").contains("version is not a number"));
        assert!(msg("run=1").contains("no version"));
        assert!(msg("run=1.!!!!").contains("base64url"));
        let other = |json: &str| format!("run=1.{}", base64url_encode(json.as_bytes()));
        assert!(msg(&other(r#"{"s":"nope","seed":1,"p":0}"#)).contains("does not have"));
        assert!(msg(&other(
            r#"{"s":"log-is-the-truth","seed":1,"p":0,"a":[[1,{"do":"write","key":"","value":""}]]}"#
        ))
        .contains("impossible"));
        assert!(msg(&other(
            r#"{"s":"log-is-the-truth","seed":1,"p":0,"a":[[5,{"do":"crash"}],[2,{"do":"crash"}]]}"#
        ))
        .contains("out of order"));
        assert!(
            msg(&other(r#"{"s":"log-is-the-truth","seed":1,"p":0,"x":1}"#)).contains("damaged")
        );
    }

    #[test]
    fn run_files_check_version_and_hash() {
        let l = link();
        let file = RunFile::new(&l, &[]);
        let text = file.to_json();
        let back = RunFile::from_json(&text).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.link(), l);
        assert!(back.verify(&[]).is_ok());
        let wrong = text.replace("\"logspine_run\": 1", "\"logspine_run\": 9");
        assert!(RunFile::from_json(&wrong)
            .unwrap_err()
            .0
            .contains("version 9"));
        assert!(RunFile::from_json("{}")
            .unwrap_err()
            .0
            .contains("not a Logspine run file"));
        assert!(RunFile::from_json("[1,2")
            .unwrap_err()
            .0
            .contains("not a Logspine"));
        for n in [1, text.len() / 2, text.len() - 1] {
            assert!(RunFile::from_json(&text[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn link_and_file_json_edges() {
        let open = |json: &str| {
            RunLink::from_fragment(&format!("run=1.{}", base64url_encode(json.as_bytes())))
        };
        // `a` may be absent; an action is a pair [tick, action].
        let l = open(r#"{"s":"log-is-the-truth","seed":18446744073709551615,"p":0}"#)
            .unwrap()
            .unwrap();
        assert_eq!((l.seed, l.actions.len()), (u64::MAX, 0));
        for (json, says) in [
            (
                r#"{"s":"log-is-the-truth","seed":1,"p":0,"seed":2}"#,
                "duplicate field `seed`",
            ),
            (
                r#"{"s":"log-is-the-truth","seed":-1,"p":0}"#,
                "seed: invalid value",
            ),
            (r#"{"s":"log-is-the-truth","p":0}"#, "missing field `seed`"),
            (
                r#"{"s":"log-is-the-truth","seed":1,"p":0,"a":[[1]]}"#,
                "a[0]: invalid length 1",
            ),
            (
                r#"{"s":"log-is-the-truth","seed":1,"p":0,"a":[[1,{"do":"boom"}]]}"#,
                "a[0][1].do: unknown variant `boom`",
            ),
            (
                r#"{"s":"log-is-the-truth","seed":1,"p":0} 1"#,
                "trailing characters",
            ),
        ] {
            let e = open(json).unwrap_err().0;
            assert!(
                e.starts_with("This link is damaged") && e.contains(says),
                "{json}: {e}"
            );
        }
        assert!(RunLink::from_fragment(&format!(
            "run=1.{}",
            base64url_encode(b"{\"s\":\"\xff\"}")
        ))
        .unwrap_err()
        .0
        .contains("damaged"));

        // A run file's hand actions ignore extra members (as before); the file's do not.
        let text = RunFile::new(&link(), &[]).to_json();
        let extra = text.replacen("\"tick\": 3,", "\"tick\": 3, \"note\": \"x\",", 1);
        assert_ne!(extra, text);
        assert_eq!(RunFile::from_json(&extra).unwrap().link(), link());
        let unknown = text.replacen("\"seed\"", "\"sead\"", 1);
        assert!(RunFile::from_json(&unknown)
            .unwrap_err()
            .0
            .contains("unknown field `sead`"));
        assert!(RunFile::from_json(r#"{"logspine_run": "1"}"#)
            .unwrap_err()
            .0
            .contains("not a Logspine run file: logspine_run: invalid type"));
        assert!(RunFile::from_json("[1]")
            .unwrap_err()
            .0
            .contains("not a JSON object"));
    }
}
