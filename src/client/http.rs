//! The HTTP side of the client: one `reqwest` client for one Vigil API,
//! URLs under `/api/v1` built from percent-encoded segments, the bearer
//! token, timeouts, and error statuses turned into [`Error`]s.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vigil_api::Problem;

use super::Error;
use super::render;
use super::settings::{Settings, Token};

/// How long an ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A decoded answer and its raw text (printed as-is under `--json`).
#[derive(Debug)]
pub struct Reply<T> {
    /// The body, decoded.
    pub value: T,
    /// The body as the API sent it.
    pub raw: String,
    /// The HTTP status (200 or 201).
    pub status: u16,
}

impl<T> Reply<T> {
    /// Prints the raw body on stdout.
    pub fn print_raw(&self) {
        println!("{}", self.raw.trim_end());
    }
}

/// An HTTP client of one Vigil API.
pub struct Client {
    http: reqwest::Client,
    /// `<url>/api/v1`, as segments are appended to it.
    base: Url,
    /// The URL as given, for messages.
    shown: String,
    token: Option<Token>,
}

impl Client {
    /// A client for `settings`. A URL that is not http(s) is a usage error.
    pub fn new(settings: &Settings) -> Result<Self, Error> {
        let trimmed = settings.url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
        let mut base = Url::parse(trimmed)
            .map_err(|e| Error::Usage(format!("--url {trimmed}: not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Usage(format!(
                "--url {}: must be an http:// or https:// URL",
                redact(&base)
            )));
        }
        base.path_segments_mut()
            .map_err(|()| Error::Usage("--url cannot take a path".to_owned()))?
            .pop_if_empty()
            .extend(["api", "v1"]);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("vigil-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            shown: redact(&base)
                .trim_end_matches("/api/v1")
                .trim_end_matches('/')
                .to_owned(),
            base,
            token: settings.token.clone().filter(|t| !t.secret().is_empty()),
        })
    }

    /// The URL of `segments` under `/api/v1`, each segment percent-encoded
    /// (an id can never change the path).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// A request to `path_and_query` (already encoded) under `/api/v1`,
    /// with the token, if any.
    pub fn request_path(
        &self,
        method: Method,
        path_and_query: &str,
    ) -> Result<RequestBuilder, Error> {
        let url = Url::parse(&format!(
            "{}{path_and_query}",
            self.base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| Error::Usage(format!("bad path {path_and_query}: {e}")))?;
        let request = self.http.request(method, url);
        Ok(match &self.token {
            Some(token) => request.bearer_auth(token.secret()),
            None => request,
        })
    }

    /// A request to `segments` with the token, if any.
    pub fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let url = self.url(segments);
        tracing::debug!(http.method = %method, url = %redact(&url), "api request");
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token.secret()),
            None => request,
        }
    }

    /// Sends `request` (with the ordinary timeout unless `streaming`) and
    /// turns an error status into [`Error::Api`] or [`Error::Http`].
    pub async fn send(&self, request: RequestBuilder, streaming: bool) -> Result<Response, Error> {
        let request = if streaming {
            request
        } else {
            request.timeout(REQUEST_TIMEOUT)
        };
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let raw = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<Problem>(&raw) {
            Ok(problem) => Error::Api {
                problem: Box::new(problem),
                raw,
            },
            Err(_) => Error::Http {
                status: status.as_u16(),
                detail: render::clip(&raw, 200),
            },
        })
    }

    /// A transport failure: the server is unreachable or too slow.
    pub fn transport(&self, e: reqwest::Error) -> Error {
        let reason = if e.is_timeout() {
            "no answer in time".to_owned()
        } else {
            let e = e.without_url();
            let mut cause: &dyn std::error::Error = &e;
            while let Some(source) = cause.source() {
                cause = source;
            }
            cause.to_string()
        };
        Error::Unreachable {
            url: self.shown.clone(),
            reason,
        }
    }

    /// Reads a successful response's body as text.
    pub async fn text(&self, response: Response) -> Result<String, Error> {
        response.text().await.map_err(|e| self.transport(e))
    }

    /// Sends `request` and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<Reply<T>, Error> {
        let response = self.send(request, false).await?;
        let status = response.status().as_u16();
        let raw = self.text(response).await?;
        let value = serde_json::from_str(&raw).map_err(|e| Error::Unexpected(e.to_string()))?;
        Ok(Reply { value, raw, status })
    }

    /// `GET segments?query`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Reply<T>, Error> {
        self.call(self.request(Method::GET, segments).query(query))
            .await
    }

    /// `POST segments` with a JSON body and extra headers.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
        headers: HeaderMap,
    ) -> Result<Reply<T>, Error> {
        self.call(
            self.request(Method::POST, segments)
                .headers(headers)
                .json(body),
        )
        .await
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.shown)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// `url` without user name or password.
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Exit;

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.into(),
            token: Some("vgl_0123_secret".parse().unwrap()),
            json: false,
        }
    }

    #[test]
    fn urls_are_built_under_api_v1_with_encoded_segments() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api/v1/",
        ] {
            let c = Client::new(&settings(base)).unwrap();
            assert_eq!(
                c.url(&["investigations", "a/../b?c"]).as_str(),
                "http://127.0.0.1:8080/api/v1/investigations/a%2F..%2Fb%3Fc"
            );
            assert_eq!(c.shown, "http://127.0.0.1:8080");
        }
        let proxied = Client::new(&settings("https://soc.example/vigil")).unwrap();
        assert_eq!(
            proxied.url(&["approvals"]).as_str(),
            "https://soc.example/vigil/api/v1/approvals"
        );
        for bad in ["127.0.0.1:8080", "ftp://x", "not a url", "mailto:a@b"] {
            let e = Client::new(&settings(bad)).unwrap_err();
            assert_eq!(e.exit(), Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn the_token_never_shows() {
        let s = settings("http://u:pw@127.0.0.1:1");
        assert!(!format!("{s:?}").contains("secret"));
        let c = Client::new(&s).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.shown, "http://127.0.0.1:1");
        let empty = Settings {
            token: Some(" ".parse().unwrap()),
            ..settings("http://127.0.0.1:1")
        };
        assert!(Client::new(&empty).unwrap().token.is_none());
        let bad = "vgl_\u{7}x".parse::<Token>().unwrap_err();
        assert!(!bad.contains("vgl_"));
    }
}
