//! Values the agent side reads from configuration: the runtime [`Mode`],
//! token [`Price`]s, [`Secret`]s that never print, and human-written
//! durations ([`duration`]).

pub mod duration;

use serde::{Deserialize, Deserializer, Serialize};

/// How tools and models behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The built-in scripted model and fixture tools: nothing leaves the process.
    Dummy,
    /// A real model; read tools run; write tools return a preview of what
    /// they would do (approvals are still requested).
    DryRun,
    /// Everything runs.
    #[default]
    Real,
}

impl Mode {
    /// The name `mode` takes in configuration, and in `GET /system/mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dummy => "dummy",
            Mode::DryRun => "dry_run",
            Mode::Real => "real",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Price of a model's tokens, in US dollars per million.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

/// A credential (API key, token). `Debug`, `Display` and `Serialize` show
/// `***`, so printing or dumping a configuration never reveals it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}
