//! A real browser for the console's tests and benchmark: Debian's headless Chromium driven over
//! WebDriver (its chromedriver) through fantoccini, with blocking calls on a runtime of its own
//! so tests read as the officer's steps. Every message the page logs is collected (a test fails
//! on any error), screenshots are saved where the test says, and the driver and the browser are
//! stopped when the `Browser` is dropped, whatever the test did. Also `waybill console` as a
//! process of the test, stopped the same way.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::cluster::{Cluster, workspace_binary};

/// How long a step waits for what it looks for (a page that verifies proofs first).
pub const STEP_WAIT: Duration = Duration::from_secs(30);
/// How long chromedriver and the console may take to start.
const START_WAIT: Duration = Duration::from_secs(30);

/// Where Debian puts them (`scripts/setup.sh` installs `chromium` and `chromium-driver`);
/// `WAYBILL_CHROMIUM` and `WAYBILL_CHROMEDRIVER` name others.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags this machine needs: no sandbox as root, no GPU, and none of the background
/// connections that a closed network refuses (they would reach the console as errors).
const CHROMIUM_FLAGS: [&str; 12] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,800",
];

/// One message from the page's console (or the browser's network log).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ConsoleMessage {
    pub level: String,
    pub message: String,
    #[serde(default)]
    pub source: String,
}

impl ConsoleMessage {
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE"
    }
}

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// chromedriver's own URL and the session's, for the log endpoint fantoccini lacks.
    session_url: String,
    /// The console's base URL: `goto("/x")` is relative to it.
    pub base: String,
    screenshots: PathBuf,
    /// Everything the page logged so far (chromedriver hands each message out once).
    messages: Vec<ConsoleMessage>,
    profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Browser")
            .field("session", &self.session_url)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn program(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (Debian's chromium and chromium-driver), or set {variable}",
        path.display()
    );
    path
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a Chromium session at 1280×800 in the
    /// IANA `time_zone`, that opens paths under `base`; screenshots go to `screenshots`.
    pub fn start(base: &str, screenshots: &Path, time_zone: &str) -> Browser {
        let port = waybill_genesis::testnet::free_loopback_ports(1).expect("a free port")[0];
        let profile = tempfile::tempdir().expect("browser profile dir");
        let driver = Command::new(program("WAYBILL_CHROMEDRIVER", CHROMEDRIVER))
            .arg(format!("--port={port}"))
            // Chromium takes its time zone from the driver that starts it.
            .env("TZ", time_zone)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver_url = format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("browser runtime");
        let mut browser = Browser {
            runtime,
            client: None,
            driver,
            session_url: String::new(),
            base: base.trim_end_matches('/').to_string(),
            screenshots: screenshots.to_path_buf(),
            messages: Vec::new(),
            profile,
        };
        browser.wait_for_driver(&driver_url);
        let capabilities = browser.capabilities();
        let client = browser
            .runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&driver_url),
            )
            .expect("a Chromium session");
        let session = browser
            .runtime
            .block_on(client.session_id())
            .expect("session id")
            .expect("a session");
        browser.session_url = format!("{driver_url}/session/{session}");
        browser.client = Some(client);
        std::fs::create_dir_all(screenshots).expect("screenshot dir");
        browser
    }

    fn capabilities(&self) -> serde_json::Map<String, Value> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": program("WAYBILL_CHROMIUM", CHROMIUM),
                "args": args,
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("capabilities are an object"),
        }
    }

    fn wait_for_driver(&mut self, driver_url: &str) {
        let deadline = Instant::now() + START_WAIT;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited at start ({status})");
            }
            let ready = agent
                .get(format!("{driver_url}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not answer within {START_WAIT:?}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    fn run<T>(
        &self,
        what: &str,
        step: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        self.runtime
            .block_on(step)
            .unwrap_or_else(|error| panic!("browser: {what}: {error}"))
    }

    /// Opens `path` (under the base URL) or a whole URL, and waits for the page to load.
    pub fn goto(&self, path: &str) {
        let url = match path.starts_with("http") {
            true => path.to_string(),
            false => format!("{}{path}", self.base),
        };
        self.run(&format!("open {url}"), self.client().goto(&url));
    }

    /// The page's URL now.
    pub fn url(&self) -> String {
        self.run("current URL", self.client().current_url())
            .to_string()
    }

    /// The first element matching `css`, waiting for it to appear.
    pub fn find(&self, css: &str) -> Element {
        self.run(
            &format!("find {css}"),
            self.client()
                .wait()
                .at_most(STEP_WAIT)
                .for_element(Locator::Css(css)),
        )
    }

    /// Every element matching `css` now (no wait).
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.run(
            &format!("find all {css}"),
            self.client().find_all(Locator::Css(css)),
        )
    }

    /// The visible text of the first element matching `css`, waiting for it.
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.run(&format!("text of {css}"), element.text())
    }

    /// The attribute `name` of `element` (a link's `href` is the absolute URL).
    pub fn attribute(&self, element: &Element, name: &str) -> String {
        let value = match name {
            "href" => self.run("href", element.prop("href")),
            _ => self.run(&format!("attribute {name}"), element.attr(name)),
        };
        value.unwrap_or_default()
    }

    /// The visible texts of every element matching `css` now, read in one script so that a
    /// live update of the page cannot replace an element between finding and reading it.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let texts = self.run(
            &format!("texts of {css}"),
            self.client().execute(
                "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText ?? e.textContent);",
                vec![Value::String(css.to_string())],
            ),
        );
        serde_json::from_value(texts).unwrap_or_default()
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> usize {
        self.texts(css).len()
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.run(&format!("click {css}"), element.click());
    }

    /// Types `value` into the field `css` (emptied first).
    pub fn fill(&self, css: &str, value: &str) {
        let element = self.find(css);
        self.run(&format!("clear {css}"), element.clear());
        self.run(&format!("type into {css}"), element.send_keys(value));
    }

    /// Chooses the option `value` of the select `css`.
    pub fn choose(&self, css: &str, value: &str) {
        let element = self.find(css);
        self.run(
            &format!("choose {value} in {css}"),
            element.select_by_value(value),
        );
    }

    /// Presses keys in the focused element (`\u{e004}` is Tab, `\u{e007}` Enter).
    pub fn press(&self, keys: &str) {
        let focused = self.run("focused element", self.client().active_element());
        self.run("press keys", focused.send_keys(keys));
    }

    /// Runs `script` in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.run("script", self.client().execute(script, Vec::new()))
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        self.run("window size", self.client().set_window_size(width, height));
    }

    /// Polls `check` every 200 ms until it holds; panics naming `what` and the page's text if
    /// it does not within [`STEP_WAIT`].
    pub fn wait_until(&self, what: &str, mut check: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + STEP_WAIT;
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let page = self.texts("body").join("\n");
        panic!(
            "waited {STEP_WAIT:?} for {what}; the page at {}:\n{page}",
            self.url()
        );
    }

    /// Saves a PNG of the page as `name.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run("screenshot", self.client().screenshot());
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Every message the page logged since the session began.
    pub fn console_messages(&mut self) -> &[ConsoleMessage] {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let answer: Value = agent
            .post(format!("{}/se/log", self.session_url))
            .send_json(json!({ "type": "browser" }))
            .expect("chromedriver's log")
            .body_mut()
            .read_json()
            .expect("chromedriver's log as JSON");
        let fresh: Vec<ConsoleMessage> =
            serde_json::from_value(answer["value"].clone()).expect("log entries");
        self.messages.extend(fresh);
        &self.messages
    }

    /// Fails the test on any error the page logged (a script error, a refused resource, a
    /// content-security-policy violation).
    pub fn assert_no_console_errors(&mut self) {
        let errors: Vec<String> = self
            .console_messages()
            .iter()
            .filter(|m| m.is_error())
            .map(|m| format!("[{}] {}", m.source, m.message))
            .collect();
        assert!(
            errors.is_empty(),
            "the browser's console has errors:\n{}",
            errors.join("\n")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `waybill console` as a process of the test, on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct ConsoleProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the console printed it.
    pub url: String,
    pub log: PathBuf,
}

impl ConsoleProcess {
    /// Starts a console signing and reading as `org` (its testnet key), verifying what `node`
    /// answers against the cluster's genesis, with random selection switched off so lanes come
    /// from the score alone. `extra` goes on the command line (`--validator NAME` for a proxy).
    pub fn start(cluster: &Cluster, org: &str, node: &str, extra: &[&str]) -> ConsoleProcess {
        let log = cluster.dir.path().join(format!("console-{org}.log"));
        let mut child = Command::new(workspace_binary("waybill"))
            .arg("console")
            .args(["--listen", "127.0.0.1:0", "--node", node])
            .arg("--key")
            .arg(cluster.testnet.dir.join(format!("keys/{org}.key")))
            .arg("--genesis")
            .arg(&cluster.testnet.genesis_path)
            .args(extra)
            .env_remove("WAYBILL_NODE")
            .env_remove("WAYBILL_GENESIS")
            .env_remove("WAYBILL_KEY")
            .env("WAYBILL_POLICIES", crate::policies_without_draws())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("console log"))
            .spawn()
            .expect("start waybill console");
        let stdout = child.stdout.take().expect("console stdout");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = said.send(line);
        });
        let line = heard.recv_timeout(START_WAIT).unwrap_or_default();
        let url = line
            .strip_prefix("console at ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches('/').to_string());
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            let errors = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("waybill console did not start: {line:?}\n{errors}");
        };
        ConsoleProcess { child, url, log }
    }
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
