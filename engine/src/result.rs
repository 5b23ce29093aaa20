//! The default result schema and the completion outcome.
//!
//! Agents may declare their own output schema (validated by the agent layer);
//! the default one is checked here without any schema library:
//! `summary` (non-empty string), `key_findings` ([string]),
//! `recommended_next_steps` ([string]) and `confidence` (number in 0..=1).

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

impl Completion {
    /// Judges `raw` (the model's final output) against the default schema.
    pub fn from_raw_default(raw: &str) -> Completion {
        match serde_json::from_str::<Value>(raw) {
            Ok(value) => match validate_default(&value) {
                Ok(confidence) => Completion::Valid {
                    result: value,
                    confidence: Some(confidence),
                },
                Err(errors) => Completion::Invalid {
                    reason: "result does not match the output schema".to_owned(),
                    result_raw: Some(raw.to_owned()),
                    errors,
                },
            },
            Err(e) => Completion::Invalid {
                reason: "result is not valid JSON".to_owned(),
                result_raw: Some(raw.to_owned()),
                errors: vec![e.to_string()],
            },
        }
    }
}

/// Checks `value` against the default result schema. Returns the confidence,
/// or every violation found.
pub fn validate_default(value: &Value) -> Result<f64, Vec<String>> {
    let mut errors = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec!["result must be a JSON object".to_owned()]);
    };
    match obj.get("summary") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => errors.push("summary: must be a non-empty string".to_owned()),
        None => errors.push("summary: required".to_owned()),
    }
    for field in ["key_findings", "recommended_next_steps"] {
        match obj.get(field) {
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(_) => errors.push(format!("{field}: must be an array of strings")),
            None => errors.push(format!("{field}: required")),
        }
    }
    let confidence = match obj.get("confidence") {
        Some(Value::Number(n)) => match n.as_f64() {
            Some(c) if (0.0..=1.0).contains(&c) => Some(c),
            _ => {
                errors.push("confidence: must be between 0 and 1".to_owned());
                None
            }
        },
        Some(_) => {
            errors.push("confidence: must be a number".to_owned());
            None
        }
        None => {
            errors.push("confidence: required".to_owned());
            None
        }
    };
    match confidence {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_default_result_yields_its_confidence() {
        let v = json!({"summary": "s", "key_findings": ["a"], "recommended_next_steps": [], "confidence": 0.7});
        assert_eq!(validate_default(&v), Ok(0.7));
    }

    #[test]
    fn every_violation_is_reported() {
        let v = json!({"summary": "", "key_findings": [1], "confidence": 1.5});
        let errors = validate_default(&v).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("recommended_next_steps"))
        );
    }

    #[test]
    fn unparseable_output_requires_review_and_keeps_raw() {
        match Completion::from_raw_default("not json") {
            Completion::Invalid { result_raw, .. } => {
                assert_eq!(result_raw.as_deref(), Some("not json"))
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
