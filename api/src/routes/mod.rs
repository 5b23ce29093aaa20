//! The handlers, one module per resource.

pub mod alerts;
pub mod approvals;
pub mod case_investigations;
pub mod case_records;
pub mod case_summaries;
pub mod cases;
pub mod investigations;
pub mod system;
pub mod tokens;

use axum::http::StatusCode;

use crate::error::ApiError;

/// Parses a path id; a malformed one names nothing that exists, so it is a 404.
pub(crate) fn parse_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {raw} not found (not a valid id)")))
}

/// Parses an optional query parameter, naming it when its value is bad.
pub(crate) fn query_value<T>(field: &str, raw: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.map(|r| {
        r.parse::<T>()
            .map_err(|e| ApiError::invalid_query(field, format!("{field}: {e}")))
    })
    .transpose()
}

/// Parses an optional RFC 3339 time query parameter.
pub(crate) fn query_time(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.map(|r| {
        chrono::DateTime::parse_from_rfc3339(r)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| ApiError::invalid_query(field, format!("{field} must be RFC 3339: {e}")))
    })
    .transpose()
}

/// Parses an optional number query parameter that must lie in `range`.
pub(crate) fn query_number<T>(
    field: &str,
    raw: Option<&str>,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.map(|r| {
        r.parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::invalid_query(
                    field,
                    format!(
                        "{field} must be a number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    })
    .transpose()
}

/// Checks a required, bounded free-text field.
pub(crate) fn required_text(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    if is_blank(value) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be blank"),
        ));
    }
    optional_text(field, Some(value), max_chars)
}

/// Whether `text` has nothing but white space in it. White space is what
/// Rust, ECMAScript and Python regular expressions each call so (their
/// union: Unicode white space, the separators U+001C..U+001F and the BOM),
/// so the OpenAPI document's `pattern` for required text refuses exactly
/// what this refuses, whichever regex engine reads it.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) || c == '\u{feff}')
}

/// Checks an optional, bounded free-text field.
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max_chars => Err(ApiError::invalid(
            field,
            format!("{field} is longer than {max_chars} characters"),
        )),
        _ => Ok(()),
    }
}

/// The longest reason, comment or note accepted.
pub(crate) const MAX_NOTE_CHARS: usize = 4000;
/// The longest short identifier (case ref, idempotency key) accepted.
pub(crate) const MAX_REF_CHARS: usize = 200;

/// `201 Created` for a new resource, `200 OK` for a replay.
pub(crate) fn created(new: bool) -> StatusCode {
    if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}
