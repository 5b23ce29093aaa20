//! A small observable extractor: IP addresses, domains, hashes and e-mail
//! addresses found in free text (an investigation's result). It is
//! deliberately plain: words are split on whitespace and punctuation that
//! never occurs inside those values, trailing sentence punctuation is
//! dropped, and each word is kept only when [`normalize`] accepts it as one
//! of the four kinds. Defanged values (`185.220.101[.]4`) are refanged by
//! `normalize`.

use super::observable::{ObservableType, normalize};

/// File extensions that look like top-level domains in prose
/// (`auth.log`, `payload.exe`): a word ending in one is not a domain.
const FILE_EXTENSIONS: &[&str] = &[
    "bat", "bin", "cfg", "conf", "csv", "dll", "doc", "docx", "exe", "gz", "htm", "html", "ini",
    "jar", "jpg", "js", "json", "log", "md", "msi", "pdf", "php", "png", "ps1", "py", "rs", "sh",
    "so", "sql", "sys", "tar", "tmp", "toml", "txt", "vbs", "xls", "xlsx", "xml", "yaml", "yml",
    "zip",
];

/// Every IP, domain, hash and e-mail value in `text`, normalized, each once,
/// in the order first found.
pub fn extract_observables(text: &str) -> Vec<(ObservableType, String)> {
    let mut found: Vec<(ObservableType, String)> = Vec::new();
    let separators = |c: char| c.is_whitespace() || ",;()<>\"'`{}|=!?*".contains(c);
    for word in text.split(separators) {
        // Sentence punctuation; a leading `:` stays (`::1`).
        let word = word.trim_start_matches('.').trim_end_matches(['.', ':']);
        if word.is_empty() {
            continue;
        }
        if let Some(hit) = classify(word)
            && !found.contains(&hit)
        {
            found.push(hit);
        }
    }
    found
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
