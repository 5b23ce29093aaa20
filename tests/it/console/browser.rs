//! Chromium over chromedriver: starting them, driving the console, and
//! checking screenshots are not blank.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::free_port;

pub(super) const CHROMIUM: &str = "/usr/bin/chromium";
pub(super) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any awaited state may take. Generous: the machine is shared.
pub(super) const DEADLINE: Duration = Duration::from_secs(60);

/// `chromedriver` on a free port; killed on drop.
pub(super) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(super) fn start(log: &Path) -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the console tests need Debian's `{package}` package \
                 (`apt-get install -y chromium chromium-driver`; ./test installs it)"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on the console at `origin`.
pub(super) struct Browser {
    pub(super) client: Client,
    origin: String,
    shots: PathBuf,
}

impl Browser {
    pub(super) async fn start(driver: &Driver, origin: &str) -> Self {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--lang=en-US", "--force-device-scale-factor=1"],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session with headless Chromium");
        // Fresh each run: no screenshot of an earlier run is mistaken for this one's.
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        // Cleared once per test process: browsers of other tests (and a second
        // window of the same test) add to it.
        static CLEAR: std::sync::Once = std::sync::Once::new();
        CLEAR.call_once(|| {
            let _ = std::fs::remove_dir_all(&shots);
        });
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            origin: origin.to_owned(),
            shots,
        }
    }

    pub(super) async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.origin))
            .await
            .unwrap();
    }

    /// Runs `body` (a function body: it `return`s) in the page.
    pub(super) async fn js(&self, body: &str) -> Value {
        self.client
            .execute(body, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{body}"))
    }

    pub(super) async fn text(&self, css: &str) -> String {
        let found = self
            .js(&format!(
                "const e = document.querySelector({}); return e ? e.innerText : null;",
                json!(css)
            ))
            .await;
        found
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// Waits until the JavaScript expression `expr` is truthy.
    pub(super) async fn until(&self, what: &str, expr: &str) {
        let deadline = Instant::now() + DEADLINE;
        let script = format!("return !!({expr});");
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return;
            }
            if Instant::now() > deadline {
                let name = format!(
                    "failed-{}",
                    what.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                );
                let _ = self.save(&name).await;
                let page = self
                    .js("return document.body.innerText.slice(0, 3000);")
                    .await;
                let errors = self.js("return window.__vigilErrors;").await;
                panic!(
                    "timed out waiting for {what} ({expr})\nerrors: {errors}\npage:\n{}",
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element at `css`. An element that a live view rendered
    /// again between finding and clicking (stale) is found again, a few
    /// times.
    pub(super) async fn click(&self, css: &str) {
        for _ in 0..20 {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css}: {e}"));
            match element.click().await {
                Ok(()) => return,
                Err(e) if e.to_string().contains("stale element") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
        panic!("{css} went stale on every try");
    }

    pub(super) async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub(super) async fn sign_in(&self, token: &str) {
        self.until(
            "the sign-in form",
            "document.querySelector('form.signin input[name=token]')",
        )
        .await;
        self.type_into("form.signin input[name=token]", token).await;
        self.click("form.signin button[type=submit]").await;
        self.until(
            "signed in",
            "!document.getElementById('who').hidden && !document.getElementById('mode').hidden",
        )
        .await;
        assert!(
            !self
                .js("return location.href;")
                .await
                .to_string()
                .contains("vgl_"),
            "the token never appears in the URL"
        );
    }

    pub(super) async fn save(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        path
    }

    /// Saves a screenshot and checks it is not blank.
    pub(super) async fn shot(&self, name: &str) -> PathBuf {
        let path = self.save(name).await;
        assert_not_blank(&path);
        path
    }

    /// No uncaught error, unhandled rejection or CSP violation so far on
    /// this page (the collector itself must have loaded).
    pub(super) async fn assert_clean(&self, when: &str) {
        let errors = self.js("return window.__vigilErrors;").await;
        assert_eq!(errors, json!([]), "browser errors {when}");
        // Nothing rendered a missing value as text (JSON blocks aside).
        let leaks = self
            .js(r#"
                const out = [];
                const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                    if (n.parentElement.closest('pre, code, textarea, script')) continue;
                    if (/\b(null|undefined|NaN)\b|\[object Object\]/.test(n.textContent)) out.push(n.textContent);
                }
                return out;
            "#)
            .await;
        assert_eq!(leaks, json!([]), "missing values shown as text {when}");
    }

    /// Every form control has a label and every interactive element can be
    /// reached with the keyboard.
    pub(super) async fn assert_accessible(&self, when: &str) {
        let problems = self
            .js(r#"
                const out = [];
                const visible = (e) => e.getClientRects().length > 0;
                for (const e of document.querySelectorAll('input, select, textarea')) {
                    if (e.type === 'hidden' || !visible(e)) continue;
                    const named = (e.labels && e.labels.length) || e.getAttribute('aria-label')
                        || e.getAttribute('aria-labelledby');
                    if (!named) out.push(`unlabelled ${e.outerHTML.slice(0, 120)}`);
                }
                for (const e of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
                    if (!visible(e) || e.disabled) continue;
                    if (e.tabIndex < 0) out.push(`not keyboard reachable ${e.outerHTML.slice(0, 120)}`);
                    if (e.matches('button, a') && !e.textContent.trim() && !e.getAttribute('aria-label'))
                        out.push(`no accessible name ${e.outerHTML.slice(0, 120)}`);
                }
                return out;
            "#)
            .await;
        assert_eq!(problems, json!([]), "accessibility {when}");
    }

    /// The timeline's seqs, in page order.
    pub(super) async fn seqs(&self) -> Vec<i64> {
        let v = self
            .js("return [...document.querySelectorAll('.timeline li.event')].map(e => Number(e.dataset.seq));")
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .collect()
    }

    pub(super) async fn assert_timeline_whole(&self) -> Vec<i64> {
        let seqs = self.seqs().await;
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, expected, "every event once, in order, no gaps");
        seqs
    }
}

/// A blank or failed screenshot is one or two flat colours. A rendered view
/// has text (anti-aliased glyphs), badges and borders: hundreds of distinct
/// colours, and no single colour covers nearly all of it.
pub(super) fn assert_not_blank(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = HashSet::new();
    let mut counts = std::collections::HashMap::new();
    for px in pixels.chunks_exact(channels) {
        let rgb = [px[0], px[1 % channels], px[2 % channels]];
        colours.insert(rgb);
        *counts.entry(rgb).or_insert(0usize) += 1;
    }
    let total = pixels.len() / channels;
    let commonest = counts.values().max().copied().unwrap_or(0);
    assert!(
        info.width >= 300 && info.height >= 300,
        "{}: {}x{}",
        path.display(),
        info.width,
        info.height
    );
    assert!(
        colours.len() >= 64,
        "{} looks blank: {} distinct colours",
        path.display(),
        colours.len()
    );
    assert!(
        commonest * 100 < total * 97,
        "{} looks blank: one colour covers {commonest} of {total} pixels",
        path.display()
    );
}
