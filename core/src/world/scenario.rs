//! Scenarios: a run described as versioned JSON — seed, configuration, timed actions,
//! narration steps — and its parser, whose errors name the field (`actions[2].do`) and
//! never panic.
//!
//! # Format, version 1
//! ```json
//! {
//!   "version": 1,
//!   "name": "log-is-the-truth",
//!   "title": "The log is the truth",
//!   "seed": 7,
//!   "config": { "index": "btree", "sync_latency": [5, 15] },
//!   "end": 400,
//!   "actions": [
//!     { "at": 1, "action": { "do": "write", "key": "apple", "value": "red" } },
//!     { "at": 60, "action": { "do": "crash" } }
//!   ],
//!   "narration": [
//!     { "text": "A write is appended to the WAL.", "until": { "event": "record_appended" } },
//!     { "text": "The crash loses what was not synced.", "until": { "event": "crash" } }
//!   ]
//! }
//! ```
//! * `version` must be 1 (other versions are refused by number).
//! * `config` is a [`WorldConfig`]; every field has a default; unknown fields are errors.
//! * `end`: the run lasts this many ticks after the last action at least (1 to 10⁶).
//! * `actions`: [`Action`]s at tick `at`, in nondecreasing `at` order; each must be
//!   possible in the configured world ([`Action::check_config`]: no `compact` with the
//!   B+tree and a topic that is not compacted, no CDC action without `cdc`, no Raft
//!   action without `raft_nodes`, no partition `changes` does not have).
//! * `narration`: steps shown in order; a step is reached when its `until` condition is
//!   met (an [`Condition`]): `{"event": name, "count": n}` — the trace has `n` (default 1)
//!   events of that kind since the run began — or `{"tick": t}`.

use super::trace::TraceKind;
use super::{Action, WorldConfig};
use crate::json::{self, Unknown, Value, Writer};

/// The only version this build reads.
pub const VERSION: u32 = 1;

/// An action at a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedAction {
    /// The tick it is applied at (before that tick's work).
    pub at: u64,
    /// The action.
    pub action: Action,
}

/// When a narration step is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `count` events of kind `event` have happened.
    Event {
        /// A trace kind's name (`committed`, `crash`, `flush_done`, ...).
        event: String,
        /// How many (at least 1).
        count: u64,
    },
    /// Virtual time reached `tick`.
    Tick {
        /// The tick.
        tick: u64,
    },
}

/// One step of the narration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarrationStep {
    /// What to tell.
    pub text: String,
    /// When the step is done.
    pub until: Condition,
}

/// A scenario (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The format version: [`VERSION`].
    pub version: u32,
    /// A short identifier (letters, digits, `-`).
    pub name: String,
    /// A title for people.
    pub title: String,
    /// The seed: the same seed, the same run.
    pub seed: u64,
    /// The world's configuration.
    pub config: WorldConfig,
    /// How many ticks the run lasts after its last action, at least.
    pub end: u64,
    /// The actions.
    pub actions: Vec<TimedAction>,
    /// The narration.
    pub narration: Vec<NarrationStep>,
}

/// Why a scenario was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    /// Where (`actions[2].action.do`; `.` for the document itself).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn bad(path: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        path: path.into(),
        message: message.into(),
    }
}

impl Scenario {
    /// Parses and checks a scenario. Unknown versions, unknown or missing fields, wrong
    /// types and impossible values are errors naming the field.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        // The version first, so a future file gets "version 2 is not supported" rather
        // than a complaint about a field this build does not know.
        let value = json::parse(text).map_err(|e| bad(".", e.to_string()))?;
        match value.get("version") {
            None => return Err(bad("version", "missing field `version`")),
            Some(Value::Number(json::Number::Unsigned(v))) if *v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(bad(
                    "version",
                    format!("version {v} is not supported (this build reads version {VERSION})"),
                ))
            }
        }
        let scenario = Scenario::from_value(&value).map_err(|e| bad(e.path(), e.message()))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads a scenario from a parsed document, without checking it
    /// ([`Scenario::from_json`] does both).
    pub fn from_value(v: &Value) -> Result<Scenario, json::Error> {
        let o = v.object(
            "struct Scenario",
            &[
                "version",
                "name",
                "title",
                "seed",
                "config",
                "end",
                "actions",
                "narration",
            ],
            Unknown::Refuse,
        )?;
        Ok(Scenario {
            version: o.u32("version")?,
            name: o.string("name")?,
            title: o.string("title")?,
            seed: o.u64("seed")?,
            config: o
                .opt_with("config", WorldConfig::from_json)?
                .unwrap_or_default(),
            end: o.u64("end")?,
            actions: o
                .opt_with("actions", |v| v.to_vec(TimedAction::from_json))?
                .unwrap_or_default(),
            narration: o
                .opt_with("narration", |v| v.to_vec(NarrationStep::from_json))?
                .unwrap_or_default(),
        })
    }

    /// The scenario as JSON (pretty: scenarios are read by people too).
    pub fn to_json(&self) -> String {
        let mut w = Writer::pretty();
        w.begin_object();
        w.field_u64("version", u64::from(self.version));
        w.field_str("name", &self.name);
        w.field_str("title", &self.title);
        w.field_u64("seed", self.seed);
        w.key("config");
        self.config.write_json(&mut w);
        w.field_u64("end", self.end);
        w.key("actions");
        w.begin_array();
        for a in &self.actions {
            w.begin_object();
            w.field_u64("at", a.at);
            w.key("action");
            a.action.write_json(&mut w);
            w.end_object();
        }
        w.end_array();
        w.key("narration");
        w.begin_array();
        for n in &self.narration {
            w.begin_object();
            w.field_str("text", &n.text);
            w.key("until");
            w.begin_object();
            match &n.until {
                Condition::Event { event, count } => {
                    w.field_str("event", event);
                    w.field_u64("count", *count);
                }
                Condition::Tick { tick } => w.field_u64("tick", *tick),
            }
            w.end_object();
            w.end_object();
        }
        w.end_array();
        w.end_object();
        w.finish()
    }

    /// Checks what the types cannot say.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.version != VERSION {
            return Err(bad("version", format!("must be {VERSION}")));
        }
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("name", "must be 1 to 64 letters, digits or '-'"));
        }
        if self.end == 0 || self.end > 1_000_000 {
            return Err(bad("end", "must be 1 to 1000000 ticks"));
        }
        self.config.check().map_err(|m| {
            let (field, msg) = m.split_once(": ").unwrap_or(("config", &m));
            bad(field, msg)
        })?;
        let mut last = 0;
        for (i, a) in self.actions.iter().enumerate() {
            if a.at < last {
                return Err(bad(
                    format!("actions[{i}].at"),
                    format!("{} comes before the previous action's {last}", a.at),
                ));
            }
            if a.at > 1_000_000 {
                return Err(bad(format!("actions[{i}].at"), "must be at most 1000000"));
            }
            last = a.at;
            a.action
                .check()
                .and_then(|()| a.action.check_config(&self.config))
                .map_err(|m| bad(format!("actions[{i}].action.{m}"), "").with_split())?;
        }
        for (i, n) in self.narration.iter().enumerate() {
            if let Condition::Event { event, count } = &n.until {
                if !TraceKind::NAMES.contains(&event.as_str()) {
                    return Err(bad(
                        format!("narration[{i}].until.event"),
                        format!(
                            "unknown event {event:?}; known: {}",
                            TraceKind::NAMES.join(", ")
                        ),
                    ));
                }
                if *count == 0 {
                    return Err(bad(
                        format!("narration[{i}].until.count"),
                        "must be at least 1",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tick the run ends at.
    pub fn end_tick(&self) -> u64 {
        self.actions.last().map_or(0, |a| a.at) + self.end
    }
}

impl TimedAction {
    /// Reads `{"at": tick, "action": action}`.
    pub fn from_json(v: &Value) -> Result<TimedAction, json::Error> {
        let o = v.object("struct TimedAction", &["at", "action"], Unknown::Refuse)?;
        Ok(TimedAction {
            at: o.u64("at")?,
            action: o.with("action", Action::from_json)?,
        })
    }
}

impl Condition {
    /// Reads `{"event": name, "count": n}` (`count` 1 when absent) or `{"tick": t}`;
    /// anything else, a mix of the two included, is an error.
    pub fn from_json(v: &Value) -> Result<Condition, json::Error> {
        if v.get("event").is_some() {
            let o = v.object(
                "struct variant Condition::Event",
                &["event", "count"],
                Unknown::Refuse,
            )?;
            Ok(Condition::Event {
                event: o.string("event")?,
                count: o.u64_or("count", 1)?,
            })
        } else if v.get("tick").is_some() {
            let o = v.object("struct variant Condition::Tick", &["tick"], Unknown::Refuse)?;
            Ok(Condition::Tick {
                tick: o.u64("tick")?,
            })
        } else {
            Err(json::Error::new(
                "data did not match any variant of untagged enum Condition \
                 (expected {\"event\": name, \"count\": n} or {\"tick\": t})",
            ))
        }
    }
}

impl NarrationStep {
    /// Reads `{"text": text, "until": condition}`.
    pub fn from_json(v: &Value) -> Result<NarrationStep, json::Error> {
        let o = v.object("struct NarrationStep", &["text", "until"], Unknown::Refuse)?;
        Ok(NarrationStep {
            text: o.string("text")?,
            until: o.with("until", Condition::from_json)?,
        })
    }
}

impl ScenarioError {
    /// `path.field: message` was built as one path: split it back.
    fn with_split(self) -> ScenarioError {
        match self.path.split_once(": ") {
            Some((p, m)) => bad(p, m),
            None => self,
        }
    }
}
