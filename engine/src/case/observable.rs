//! Observables: the indicators a case is about (addresses, domains, hashes,
//! accounts, hosts, files), each stored once per case under its normalized
//! value and counted on every sighting.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::CaseId;
use super::uuid_id;
use crate::model::wire_enum;

uuid_id! {
    /// Identifies an observable (UUID v7).
    ObservableId
}

wire_enum! {
    /// What an observable's value is.
    ObservableType {
        /// An IPv4 or IPv6 address.
        Ip => "ip",
        /// A DNS name.
        Domain => "domain",
        /// A URL with its scheme.
        Url => "url",
        /// An MD5 digest.
        HashMd5 => "hash_md5",
        /// A SHA-1 digest.
        HashSha1 => "hash_sha1",
        /// A SHA-256 digest.
        HashSha256 => "hash_sha256",
        /// An e-mail address.
        Email => "email",
        /// An account name.
        User => "user",
        /// A host name.
        Host => "host",
        /// A file name or path.
        File => "file",
        /// Anything else.
        Other => "other",
    }
}

wire_enum! {
    /// Traffic Light Protocol marking: who the observable may be shared with.
    Tlp {
        /// No limit.
        Clear => "clear",
        /// The community.
        Green => "green",
        /// The organisation and its clients.
        Amber => "amber",
        /// The organisation only.
        #[serde(rename = "amber+strict")]
        AmberStrict => "amber+strict",
        /// The named recipients only.
        Red => "red",
    }
}

wire_enum! {
    /// Permissible Actions Protocol marking: what may be done with it.
    Pap {
        /// Anything.
        Clear => "clear",
        /// Active actions that the source may notice.
        Green => "green",
        /// Passive actions only.
        Amber => "amber",
        /// Nothing that leaves the network.
        Red => "red",
    }
}

/// An observable of a case. `(case_id, kind, value)` is unique: a second
/// sighting of the same value counts in `sightings` and moves `last_seen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observable {
    /// Stable identity, kept across sightings and merges (a merged
    /// observable folded into another is removed).
    pub id: ObservableId,
    /// The case it belongs to.
    pub case_id: CaseId,
    /// What the value is.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// The value as [`normalize`] gives it.
    pub value: String,
    /// Where it was first seen (a detection, a tool, a person), if said.
    pub source: Option<String>,
    /// How many times it was reported to the case, at least 1.
    pub sightings: i64,
    /// The first report.
    pub first_seen: DateTime<Utc>,
    /// The latest report.
    pub last_seen: DateTime<Utc>,
    /// Sharing marking.
    pub tlp: Tlp,
    /// Action marking.
    pub pap: Pap,
    /// Enrichment context (a JSON object, `{}` when there is none).
    pub enrichment: Value,
    /// Analyst labels, lower-case, each once.
    pub tags: Vec<String>,
    /// The principal who first reported it.
    pub created_by: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Why a value is not a valid observable of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} observable: {message}")]
pub struct NormalizeError {
    /// The type it was checked as.
    pub kind: ObservableType,
    /// What is wrong.
    pub message: String,
}

/// The longest normalized value, in bytes.
const MAX_VALUE: usize = 4096;

/// Normalizes `raw` as a value of `kind`, or says why it is not one.
///
/// Every type: surrounding whitespace is trimmed; empty values, control
/// characters and values over 4096 bytes are refused. Indicators written
/// defanged are refanged first for `ip`, `domain`, `url` and `email`
/// (`[.]`, `(.)` and `[dot]` become `.`, `[@]` and `[at]` become `@`, `[:]`
/// becomes `:`, a leading `hxxp` becomes `http`).
///
/// - `ip`: parsed as IPv4 or IPv6 and written in canonical form (IPv6
///   compressed, lower-case); no prefix length or port.
/// - `domain`: lower-case, a trailing dot dropped; at least two labels of
///   1..=63 letters, digits, `-` or `_` (not starting or ending with `-`);
///   253 bytes at most. Internationalized names in their `xn--` form.
/// - `url`: `scheme://host...`; scheme and host lower-cased, the rest kept.
/// - `hash_md5`, `hash_sha1`, `hash_sha256`: lower-case hex of exactly 32,
///   40 or 64 digits.
/// - `email`: lower-case, one `@`, a local part without spaces and a valid
///   domain.
/// - `user`, `host`: lower-case (account and host names compare without
///   case); a host holds only letters, digits, `-`, `_` and `.`.
/// - `file`, `other`: kept as given (paths can be case-sensitive).
pub fn normalize(kind: ObservableType, raw: &str) -> Result<String, NormalizeError> {
    let fail = |message: &str| NormalizeError {
        kind,
        message: message.to_owned(),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(fail("must not be empty"));
    }
    if trimmed.len() > MAX_VALUE {
        return Err(fail("must be at most 4096 bytes"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(fail("must not contain control characters"));
    }
    let value = match kind {
        ObservableType::Ip => {
            let text = refang(trimmed);
            let ip: IpAddr = text
                .parse()
                .map_err(|_| fail("must be an IPv4 or IPv6 address"))?;
            ip.to_string()
        }
        ObservableType::Domain => domain(&refang(trimmed)).map_err(|m| fail(&m))?,
        ObservableType::Url => url(&refang(trimmed)).map_err(|m| fail(&m))?,
        ObservableType::HashMd5 => hex_digest(trimmed, 32).map_err(|m| fail(&m))?,
        ObservableType::HashSha1 => hex_digest(trimmed, 40).map_err(|m| fail(&m))?,
        ObservableType::HashSha256 => hex_digest(trimmed, 64).map_err(|m| fail(&m))?,
        ObservableType::Email => {
            let text = refang(trimmed).to_lowercase();
            let (local, host) = text
                .split_once('@')
                .ok_or_else(|| fail("must be local@domain"))?;
            if local.is_empty() || local.contains(char::is_whitespace) || host.contains('@') {
                return Err(fail("must be local@domain, with one @ and no spaces"));
            }
            let host = domain(host).map_err(|m| fail(&format!("domain part: {m}")))?;
            format!("{local}@{host}")
        }
        ObservableType::User => {
            if trimmed.contains(char::is_whitespace) {
                return Err(fail("must not contain spaces"));
            }
            trimmed.to_lowercase()
        }
        ObservableType::Host => {
            let host = trimmed.trim_end_matches('.').to_lowercase();
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(fail("must hold only letters, digits, '-', '_' and '.'"));
            }
            host
        }
        ObservableType::File | ObservableType::Other => trimmed.to_owned(),
    };
    Ok(value)
}

/// Undoes the usual defanging of indicators.
fn refang(s: &str) -> String {
    let mut out = s
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[dot]", ".")
        .replace("[@]", "@")
        .replace("[at]", "@")
        .replace("[:]", ":");
    for (fanged, plain) in [("hxxps", "https"), ("hxxp", "http")] {
        if out
            .get(..fanged.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(fanged))
        {
            out = format!("{plain}{}", &out[fanged.len()..]);
            break;
        }
    }
    out
}

fn domain(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    if !name.is_ascii() {
        return Err("must be ASCII (write internationalized names as xn--...)".to_owned());
    }
    if name.len() > 253 {
        return Err("must be at most 253 bytes".to_owned());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("must have at least two labels (example.com)".to_owned());
    }
    for label in &labels {
        let ok_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !ok_chars {
            return Err(format!(
                "label `{label}` must be 1 to 63 letters, digits, '-' or '_'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` must not start or end with '-'"));
        }
    }
    Ok(name)
}

fn url(s: &str) -> Result<String, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| "must be scheme://host/...".to_owned())?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(format!("scheme `{scheme}` is not a URL scheme"));
    }
    if rest.contains(char::is_whitespace) {
        return Err("must not contain spaces".to_owned());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The host is what follows any user info.
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err("must name a host".to_owned());
    }
    let host = host.to_lowercase();
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    Ok(format!(
        "{}://{userinfo}{host}{tail}",
        scheme.to_ascii_lowercase()
    ))
}

fn hex_digest(s: &str, digits: usize) -> Result<String, String> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("must be {digits} hex digits"));
    }
    Ok(s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: ObservableType, raw: &str) -> String {
        normalize(kind, raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn bad(kind: ObservableType, raw: &str) {
        assert!(normalize(kind, raw).is_err(), "{raw} should be refused");
    }

    #[test]
    fn addresses_are_written_canonically() {
        assert_eq!(ok(ObservableType::Ip, " 185.220.101.4 "), "185.220.101.4");
        assert_eq!(ok(ObservableType::Ip, "185.220.101[.]4"), "185.220.101.4");
        assert_eq!(
            ok(ObservableType::Ip, "2001:DB8:0:0:0:0:0:1"),
            "2001:db8::1"
        );
        bad(ObservableType::Ip, "185.220.101.4/32");
        bad(ObservableType::Ip, "300.1.1.1");
        bad(ObservableType::Ip, "example.com");
    }

    #[test]
    fn domains_and_emails_are_lower_cased_and_checked() {
        assert_eq!(
            ok(ObservableType::Domain, "Evil.Example.COM."),
            "evil.example.com"
        );
        assert_eq!(
            ok(ObservableType::Domain, "evil[.]example[.]com"),
            "evil.example.com"
        );
        bad(ObservableType::Domain, "localhost");
        bad(ObservableType::Domain, "-bad.example.com");
        bad(ObservableType::Domain, "exa mple.com");
        bad(ObservableType::Domain, "bücher.example");
        assert_eq!(
            ok(ObservableType::Email, "Alice@Example.COM"),
            "alice@example.com"
        );
        assert_eq!(
            ok(ObservableType::Email, "alice[@]example[.]com"),
            "alice@example.com"
        );
        bad(ObservableType::Email, "alice");
        bad(ObservableType::Email, "a@b@example.com");
        bad(ObservableType::Email, "alice@localhost");
    }

    #[test]
    fn hashes_need_their_length_in_hex() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        assert_eq!(ok(ObservableType::HashMd5, md5), md5.to_lowercase());
        bad(ObservableType::HashMd5, &md5[1..]);
        bad(ObservableType::HashSha1, md5);
        bad(ObservableType::HashSha256, &"g".repeat(64));
        assert_eq!(
            ok(ObservableType::HashSha256, &"AB".repeat(32)),
            "ab".repeat(32)
        );
    }

    #[test]
    fn urls_keep_their_path_and_lower_case_scheme_and_host() {
        assert_eq!(
            ok(
                ObservableType::Url,
                "hxxps://Evil.Example[.]com/Login?Next=/A"
            ),
            "https://evil.example.com/Login?Next=/A"
        );
        bad(ObservableType::Url, "evil.example.com/login");
        bad(ObservableType::Url, "https:///path");
    }

    #[test]
    fn names_and_files() {
        assert_eq!(ok(ObservableType::User, " CORP\\Alice "), "corp\\alice");
        bad(ObservableType::User, "alice smith");
        assert_eq!(ok(ObservableType::Host, "WEB-01.corp."), "web-01.corp");
        bad(ObservableType::Host, "web 01");
        assert_eq!(
            ok(ObservableType::File, " C:\\Temp\\Payload.EXE "),
            "C:\\Temp\\Payload.EXE"
        );
        bad(ObservableType::Other, "   ");
        bad(ObservableType::Other, "a\u{0}b");
        bad(ObservableType::File, &"x".repeat(4097));
    }
}
