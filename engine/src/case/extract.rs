//! A small observable extractor: IP addresses, domains, URLs, hashes and
//! e-mail addresses found in free text (an investigation's result, an
//! alert's raw event). It is deliberately plain: a whitespace-separated
//! token holding `://` (or a defanged `hxxp`) is a URL when [`normalize`]
//! accepts it; other words are split on whitespace and punctuation that
//! never occurs inside those values, trailing sentence punctuation is
//! dropped, and each word is kept only when `normalize` accepts it as one of
//! the kinds. Defanged values (`185.220.101[.]4`, `hxxp://`) are refanged by
//! `normalize`.
//!
//! Users and hosts cannot be told from prose; [`extract_entities`] takes
//! them from the fields of a JSON event that name them (`user`, `host`, ...).

use serde_json::Value;

use super::observable::{ObservableType, normalize};

/// JSON field names whose string value is an account name.
const USER_FIELDS: &[&str] = &[
    "user",
    "username",
    "user_name",
    "account",
    "account_name",
    "src_user",
    "target_user",
];
/// JSON field names whose string value is a host name.
const HOST_FIELDS: &[&str] = &[
    "host",
    "hostname",
    "host_name",
    "computer",
    "computer_name",
    "device",
    "device_name",
];

/// File extensions that look like top-level domains in prose
/// (`auth.log`, `payload.exe`): a word ending in one is not a domain.
const FILE_EXTENSIONS: &[&str] = &[
    "bat", "bin", "cfg", "conf", "csv", "dll", "doc", "docx", "exe", "gz", "htm", "html", "ini",
    "jar", "jpg", "js", "json", "log", "md", "msi", "pdf", "php", "png", "ps1", "py", "rs", "sh",
    "so", "sql", "sys", "tar", "tmp", "toml", "txt", "vbs", "xls", "xlsx", "xml", "yaml", "yml",
    "zip",
];

/// Every IP, domain, URL, hash and e-mail value in `text`, normalized, each
/// once, in the order first found.
pub fn extract_observables(text: &str) -> Vec<(ObservableType, String)> {
    let mut found: Vec<(ObservableType, String)> = Vec::new();
    extract_into(text, &mut found);
    found
}

/// Every entity of a JSON event, normalized, each once, in document order
/// (object fields in key order):
/// what [`extract_observables`] finds in each string (and number) value,
/// plus users and hosts from the fields that name them (`user`,
/// `username`, `host`, `hostname`, `computer`, ...; compared without case).
pub fn extract_entities(event: &Value) -> Vec<(ObservableType, String)> {
    let mut found = Vec::new();
    walk(None, event, &mut found);
    found
}

fn walk(field: Option<&str>, value: &Value, found: &mut Vec<(ObservableType, String)>) {
    match value {
        Value::String(text) => {
            let field = field.map(str::to_ascii_lowercase);
            let named = match field.as_deref() {
                Some(f) if USER_FIELDS.contains(&f) => Some(ObservableType::User),
                Some(f) if HOST_FIELDS.contains(&f) => Some(ObservableType::Host),
                _ => None,
            };
            if let Some(kind) = named
                && let Ok(v) = normalize(kind, text)
                && !found.contains(&(kind, v.clone()))
            {
                found.push((kind, v));
            }
            extract_into(text, found);
        }
        Value::Array(items) => items.iter().for_each(|v| walk(field, v, found)),
        Value::Object(map) => map.iter().for_each(|(k, v)| walk(Some(k), v, found)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn extract_into(text: &str, found: &mut Vec<(ObservableType, String)>) {
    let mut push = |hit: (ObservableType, String)| {
        if !found.contains(&hit) {
            found.push(hit);
        }
    };
    let mut rest = String::with_capacity(text.len());
    for token in text.split_whitespace() {
        let bare = token
            .trim_start_matches(['(', '<', '"', '\'', '`', '['])
            .trim_end_matches([')', '>', '"', '\'', '`', ',', ';', '.', ']']);
        let lower = bare.to_ascii_lowercase();
        if (bare.contains("://") || lower.starts_with("hxxp"))
            && let Ok(url) = normalize(ObservableType::Url, bare)
        {
            push((ObservableType::Url, url));
            continue;
        }
        rest.push_str(token);
        rest.push(' ');
    }
    let separators = |c: char| c.is_whitespace() || ",;()<>\"'`{}|=!?*".contains(c);
    for word in rest.split(separators) {
        // Sentence punctuation; a leading `:` stays (`::1`).
        let word = word.trim_start_matches('.').trim_end_matches(['.', ':']);
        if word.is_empty() {
            continue;
        }
        if let Some(hit) = classify(word) {
            push(hit);
        }
    }
}

fn classify(word: &str) -> Option<(ObservableType, String)> {
    let is_hex = word.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let kind = match word.len() {
            32 => ObservableType::HashMd5,
            40 => ObservableType::HashSha1,
            64 => ObservableType::HashSha256,
            _ => return None,
        };
        return normalize(kind, word).ok().map(|v| (kind, v));
    }
    if let Ok(ip) = normalize(ObservableType::Ip, word) {
        return Some((ObservableType::Ip, ip));
    }
    let refanged_at = word.contains('@') || word.contains("[at]") || word.contains("[@]");
    if refanged_at {
        return normalize(ObservableType::Email, word)
            .ok()
            .map(|v| (ObservableType::Email, v));
    }
    let domain = normalize(ObservableType::Domain, word).ok()?;
    let tld = domain.rsplit('.').next()?;
    let plausible = tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !FILE_EXTENSIONS.contains(&tld)
        // A dotted number like `1.2` or a version `v1.2` is no domain.
        && domain.bytes().any(|b| b.is_ascii_alphabetic());
    plausible.then_some((ObservableType::Domain, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(ObservableType, String)> {
        extract_observables(text)
    }

    #[test]
    fn finds_ips_domains_hashes_and_emails_in_prose() {
        let text = "Failed SSH logins from 185.220.101.4 (a Tor exit), then a beacon to \
                    evil-c2.example.com. Dropper sha256 \
                    9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08; \
                    phish sent by Billing@Pay-Secure.example, also 2001:DB8::1.";
        assert_eq!(
            kinds(text),
            vec![
                (ObservableType::Ip, "185.220.101.4".to_owned()),
                (ObservableType::Domain, "evil-c2.example.com".to_owned()),
                (
                    ObservableType::HashSha256,
                    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned()
                ),
                (
                    ObservableType::Email,
                    "billing@pay-secure.example".to_owned()
                ),
                (ObservableType::Ip, "2001:db8::1".to_owned()),
            ]
        );
    }

    #[test]
    fn refangs_defanged_values_and_keeps_each_once() {
        let text = "185.220.101[.]4 and 185.220.101.4 again; evil[.]example";
        assert_eq!(
            kinds(text),
            vec![
                (ObservableType::Ip, "185.220.101.4".to_owned()),
                (ObservableType::Domain, "evil.example".to_owned()),
            ]
        );
    }

    #[test]
    fn ignores_file_names_versions_numbers_and_short_hex() {
        let text = "see auth.log and payload.exe, version 1.2.3, confidence 0.82, id deadbeef, \
                    ticket 12345, e.g. this.";
        assert_eq!(kinds(text), Vec::new());
    }

    #[test]
    fn finds_urls_defanged_or_not_whole() {
        let text =
            "beacon to hxxp://evil[.]example/gate.php?id=7, then (https://Cdn.Example.com/a).";
        assert_eq!(
            kinds(text),
            vec![
                (
                    ObservableType::Url,
                    "http://evil.example/gate.php?id=7".to_owned()
                ),
                (ObservableType::Url, "https://cdn.example.com/a".to_owned()),
            ]
        );
    }

    #[test]
    fn takes_users_and_hosts_from_named_fields_of_an_event() {
        let event = serde_json::json!({
            "src_ip": "10.0.0[.]5",
            "User": "ALICE",
            "host": {"hostname": "WS-042.corp.local"},
            "message": "login by alice from 10.0.0.5",
            "files": ["d41d8cd98f00b204e9800998ecf8427e"],
        });
        let key = |e: &(ObservableType, String)| (e.0.to_string(), e.1.clone());
        let mut found = extract_entities(&event);
        found.sort_by_key(key);
        let mut want = vec![
            (ObservableType::Ip, "10.0.0.5".to_owned()),
            (ObservableType::User, "alice".to_owned()),
            (ObservableType::Host, "ws-042.corp.local".to_owned()),
            (ObservableType::Domain, "ws-042.corp.local".to_owned()),
            (
                ObservableType::HashMd5,
                "d41d8cd98f00b204e9800998ecf8427e".to_owned(),
            ),
        ];
        want.sort_by_key(key);
        assert_eq!(found, want);
    }

    #[test]
    fn tells_hash_lengths_apart() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709";
        assert_eq!(
            kinds(&format!("{md5} {sha1}")),
            vec![
                (ObservableType::HashMd5, md5.to_owned()),
                (ObservableType::HashSha1, sha1.to_lowercase()),
            ]
        );
    }
}
