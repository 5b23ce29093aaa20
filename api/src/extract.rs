//! Request extractors whose rejections are problem documents naming the
//! offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, decoded strictly: the content type must be JSON, the body
/// must fit the size limit, and a malformed document, a wrong type, a
/// missing or an unknown field is a 400 naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is larger than the server accepts (api.body_limit)",
                )
            } else {
                ApiError::invalid_body(None, rejection.body_text())
            }
        })?;
        decode(&bytes).map(ApiJson)
    }
}

/// Decodes `bytes` as `T`, naming the field of the first problem. Every
/// body is a JSON object: serde would otherwise also read a struct from an
/// array of its fields in order.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(_) => {
            return Err(ApiError::invalid_body(
                None,
                "the body must be a JSON object",
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::invalid_body(None, format!("malformed JSON: {message}"));
        }
        let root = path == "." || path.is_empty();
        // serde_path_to_error's path ends at the unknown field, but stops at
        // the parent of a missing one.
        let field = match missing_field(&message) {
            Some(name) if root => Some(name),
            Some(name) => Some(format!("{path}.{name}")),
            None => (!root).then_some(path),
        };
        let detail = match &field {
            Some(f) => format!("{f}: {}", strip_position(&message)),
            None => strip_position(&message).to_owned(),
        };
        ApiError::invalid_body(field, detail)
    })?;
    de.end()
        .map_err(|e| ApiError::invalid_body(None, format!("malformed JSON: {e}")))?;
    // JSON can carry a NUL only as the escape `\u0000`; look closer only then.
    if bytes.windows(6).any(|w| w == br"\u0000")
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_path(&doc, String::new())
    {
        return Err(nul_refused(&field));
    }
    Ok(value)
}

/// The path (`prompt`, `budget.note`, `items[2]`) of the first string or
/// object key in `value` that contains a NUL character.
fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let child = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => {
            Some(if at.is_empty() { ".".to_owned() } else { at })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(child(&k.replace('\0', "\\u0000")))
            } else {
                nul_path(v, child(k))
            }
        }),
        _ => None,
    }
}

/// 422 `invalid_input` for a NUL character in `field`. Both stores refuse
/// the same way, before either sees the value (PostgreSQL cannot store NUL
/// in text at all).
fn nul_refused(field: &str) -> ApiError {
    ApiError::invalid(
        field,
        format!("{field} must not contain a NUL character (\\u0000)"),
    )
}

/// The field a serde message names as missing (``missing field `prompt` ``).
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// Drops serde_json's " at line 1 column 12" suffix.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Query parameters, decoded strictly: an unknown or repeated parameter is a
/// 400 naming it. Values arrive as strings; handlers parse them and name the
/// parameter when a value is bad.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_deserializer(query);
        de.map(ApiQuery)
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_pairs(query);
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(ApiError::invalid_query(
                &k,
                format!("{k} is given more than once"),
            ));
        }
        if v.contains('\0') || k.contains('\0') {
            let name = k.replace('\0', "\\u0000");
            return Err(ApiError::invalid_query(
                &name,
                format!("{name} must not contain a NUL character (%00)"),
            ));
        }
        map.insert(k, serde_json::Value::String(v));
    }
    let doc = serde_json::Value::Object(map);
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = missing_field(&message).unwrap_or(path);
        ApiError::invalid_query(&field, format!("{field}: {message}"))
    })
}

/// Splits `a=1&b=x%20y` into decoded pairs.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Deserializes an optional whole number, also when written as an integral
/// float (`5.0`): JSON Schema's `integer`, which the document promises,
/// allows both. A fraction, or a number out of `T`'s range, is refused.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    use serde::de::Error as _;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(deserializer)?
    else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{n} is out of range"));
    let converted = match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => T::try_from(u).map_err(|_| out_of_range()),
        (None, Some(i), _) => T::try_from(i).map_err(|_| out_of_range()),
        (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            T::try_from(f as i64).map_err(|_| out_of_range())
        }
        _ => Err(D::Error::custom(format!(
            "invalid type: `{n}`, expected a whole number"
        ))),
    };
    converted.map(Some)
}

/// Deserializes a field that may be absent, `null` or a value, keeping the
/// three apart: with `#[serde(default)]`, absent is `None`, `null` is
/// `Some(None)` (clear it) and a value is `Some(Some(v))`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Deserializes an optional nested body object, refusing the array form
/// serde would also accept for a struct. Errors inside keep their path
/// (`budget.max_turns`).
pub fn object_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};

    struct ObjectOrNull<T>(std::marker::PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for ObjectOrNull<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object or null")
        }

        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_none<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D2: serde::Deserializer<'de>>(
            self,
            deserializer: D2,
        ) -> Result<Option<T>, D2::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_option(ObjectOrNull(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sized {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<u32>,
    }

    #[test]
    fn whole_numbers_may_be_written_as_integral_floats_but_not_fractions() {
        let n = |json: &str| decode::<Sized>(json.as_bytes()).map(|s| s.n);
        assert_eq!(n(r#"{"n": 5}"#).unwrap(), Some(5));
        assert_eq!(n(r#"{"n": 36282.0}"#).unwrap(), Some(36282));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n("{}").unwrap(), None);
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1e20}"#,
            r#"{"n": "5"}"#,
        ] {
            assert_eq!(
                n(bad).unwrap_err().problem().field.as_deref(),
                Some("n"),
                "{bad}"
            );
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        prompt: String,
        budget: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        max_turns: Option<u32>,
    }

    fn field_of(json: &str) -> Option<String> {
        decode::<Body>(json.as_bytes()).unwrap_err().problem().field
    }

    #[test]
    fn decode_names_missing_unknown_and_mistyped_fields() {
        assert_eq!(field_of("{}").as_deref(), Some("prompt"));
        assert_eq!(
            field_of(r#"{"prompt":"x","colour":1}"#).as_deref(),
            Some("colour")
        );
        assert_eq!(field_of(r#"{"prompt":7}"#).as_deref(), Some("prompt"));
        assert_eq!(
            field_of(r#"{"prompt":"x","budget":{"max_turns":"many"}}"#).as_deref(),
            Some("budget.max_turns")
        );
        assert_eq!(
            field_of(r#"{"prompt":"x","budget":{"turns":1}}"#).as_deref(),
            Some("budget.turns")
        );
        let malformed = decode::<Body>(b"{\"prompt\":").unwrap_err();
        assert_eq!(malformed.code(), "invalid_body");
        assert!(malformed.problem().detail.starts_with("malformed JSON"));
        assert!(decode::<Body>(br#"{"prompt":"x"} trailing"#).is_err());
    }

    #[test]
    fn query_pairs_are_percent_decoded() {
        assert_eq!(
            form_pairs("case_ref=INC%2D7&x=a+b&flag"),
            vec![
                ("case_ref".to_owned(), "INC-7".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
