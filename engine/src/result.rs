//! The completion outcome. Judging a result against an agent's output
//! schema is the agent layer's job (`vigil-agents`); the store records the
//! verdict it is given.

use serde_json::Value;

/// How a run ended, as the caller of `complete` judged it.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// A schema-valid result: the investigation becomes `completed`.
    Valid {
        /// The result document.
        result: Value,
        /// Its confidence, 0..=1.
        confidence: Option<f64>,
    },
    /// No valid result: the investigation becomes `review_required` and the
    /// raw output is kept for a person.
    Invalid {
        /// Why a person must look (e.g. "result does not match the schema").
        reason: String,
        /// The raw output, if the model produced one.
        result_raw: Option<String>,
        /// The schema violations, one message each.
        errors: Vec<String>,
    },
}
