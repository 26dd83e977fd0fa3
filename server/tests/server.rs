//! The real `narthex` binary on an ephemeral port with a real RocksDB directory: self-scrape,
//! the query API's JSON and errors, /metrics, crash safety, and refusal of bad start-ups.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Narthex {
    child: Child,
    base: String,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Narthex {
    fn start(data: &Path, extra: &[&str]) -> Narthex {
        Narthex::start_on(free_port(), data, extra)
    }

    fn start_on(port: u16, data: &Path, extra: &[&str]) -> Narthex {
        let child = Command::new(env!("CARGO_BIN_EXE_narthex"))
            .args(extra)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Narthex {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::blocking_get(&format!("{}/-/ready", self.base)) {
                if response == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("narthex did not become ready");
    }

    fn get(&self, path: &str) -> (u16, String) {
        reqwest::blocking_text(&format!("{}{}", self.base, path))
    }

    fn query_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Polls an instant query until it returns at least one series.
    fn wait_for_series(&self, query: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, json) = self.query_json(&format!("/api/v1/query?query={query}"));
            assert_eq!(status, 200, "{json}");
            if json["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                return json;
            }
            assert!(Instant::now() < deadline, "no result for {query}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Narthex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal blocking HTTP helpers on top of reqwest's async client.
mod reqwest {
    pub use ::reqwest::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub fn blocking_get(url: &str) -> Result<u16> {
        runtime().block_on(async { Ok(get(url).await?.status().as_u16()) })
    }

    pub fn blocking_text(url: &str) -> (u16, String) {
        runtime().block_on(async {
            let response = get(url).await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    }

    pub fn blocking_post_form(url: &str, form: &str) -> (u16, String) {
        runtime().block_on(async {
            let response = Client::new()
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    }
}

#[test]
fn all_in_one_scrapes_itself_and_answers_like_prometheus() {
    let data = tempfile::tempdir().unwrap();
    let narthex = Narthex::start(data.path(), &[]);

    let json = narthex.wait_for_series("up");
    assert_eq!(json["status"], "success");
    assert_eq!(json["data"]["resultType"], "vector");
    let result = &json["data"]["result"][0];
    assert_eq!(
        result["metric"],
        serde_json::json!({
            "__name__": "up",
            "instance": format!("127.0.0.1:{}", narthex.port),
            "job": "prometheus",
        })
    );
    assert!(result["value"][0].is_number());
    assert_eq!(result["value"][1], "1");

    // Matchers of all four kinds, GET and POST.
    for query in [
        "up%7Bjob%3D%22prometheus%22%7D",
        "up%7Bjob!%3D%22node%22%7D",
        "up%7Bjob%3D~%22prom.*%22%7D",
        "up%7Bjob!~%22node%7Cpush%22%7D",
    ] {
        let (status, json) = narthex.query_json(&format!("/api/v1/query?query={query}"));
        assert_eq!(status, 200);
        assert_eq!(
            json["data"]["result"].as_array().unwrap().len(),
            1,
            "{query}"
        );
    }
    let (status, body) = reqwest::blocking_post_form(
        &format!("{}/api/v1/query", narthex.base),
        "query=up%7Bjob%3D%22nope%22%7D",
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );

    // A range query over the last minute at a 1s step has the self-scrape in it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, body) = reqwest::blocking_post_form(
        &format!("{}/api/v1/query_range", narthex.base),
        &format!("query=up&start={}&end={}&step=1", now - 60, now + 1),
    );
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["data"]["resultType"], "matrix");
    let values = json["data"]["result"][0]["values"].as_array().unwrap();
    assert!(!values.is_empty());
    assert!(values.iter().all(|v| v[1] == "1"));

    // Errors: Prometheus's JSON, type and status.
    let (status, body) = narthex.get("/api/v1/query?query=up%7B");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"}"#
    );
    let (status, json) = narthex.query_json("/api/v1/query?query=up&time=yesterday");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        "invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"
    );
    let (status, json) = narthex.query_json("/api/v1/query_range?query=up&start=10&end=5&step=1");
    assert_eq!(status, 400);
    assert_eq!(
        json["error"],
        "invalid parameter \"end\": end timestamp must not be before start time"
    );
    let (status, json) =
        narthex.query_json("/api/v1/query_range?query=up&start=0&end=100000&step=1");
    assert_eq!(status, 400);
    assert!(json["error"]
        .as_str()
        .unwrap()
        .starts_with("exceeded maximum resolution of 11,000 points"));
    let (status, json) = narthex.query_json("/api/v1/query_range?query=up&start=0&end=10&step=0");
    assert_eq!(status, 400);
    assert_eq!(json["errorType"], "bad_data");
    // As Prometheus's router: a plain-text 404 (tests/api.rs checks the headers).
    let (status, body) = narthex.get("/api/v1/nope");
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
    // The endpoints Prometheus 3's own UI asks for, with its answers' shapes.
    let (status, body) = narthex.get("/api/v1/scrape_pools");
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"status":"success","data":{"scrapePools":["prometheus"]}}"#
        )
    );
    let (status, body) = narthex.get("/api/v1/status/walreplay");
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"status":"success","data":{"min":0,"max":0,"current":0}}"#
        )
    );
    let (status, body) = narthex.get("/api/v1/notifications");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"success","data":[]}"#)
    );
    let (status, json) = narthex.query_json("/api/v1/status/runtimeinfo");
    assert_eq!(status, 200);
    assert!(
        json["data"]["hostname"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{json}"
    );
    assert!(
        json["data"]["serverTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json}"
    );

    // Self-instrumentation, in a form our own exposition parser accepts.
    let (status, metrics) = narthex.get("/metrics");
    assert_eq!(status, 200);
    let parsed = narthex_model_parse(&metrics);
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_tsdb_head_series",
    ] {
        assert!(parsed.iter().any(|(n, _)| n == name), "{name} missing");
    }
    let head_series = parsed
        .iter()
        .find(|(n, _)| n == "prometheus_tsdb_head_series")
        .unwrap()
        .1;
    assert!(head_series >= 5.0, "{head_series}");
    let value = |name: &str| {
        parsed
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .1
    };
    // The TSDB's own figures, under Prometheus's names.
    assert!(value("prometheus_tsdb_head_chunks") >= 1.0);
    assert!(value("prometheus_tsdb_storage_blocks_bytes") > 0.0);
    assert!(value("prometheus_tsdb_head_max_time") >= value("prometheus_tsdb_head_min_time"));
    assert!(value("prometheus_tsdb_checkpoint_creations_total") >= 1.0);
    assert_eq!(value("prometheus_tsdb_retention_limit_bytes"), 0.0);
    assert_eq!(value("prometheus_tsdb_wal_corruptions_total"), 0.0);
    // The self-scrape stores these too: queryable by name.
    narthex.wait_for_series("process_resident_memory_bytes");

    let (status, _) = narthex.get("/-/healthy");
    assert_eq!(status, 200);
    // UI routes fall back to the single-page app.
    let (status, page) = narthex.get("/query?g0.expr=up");
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
}

/// (name, value) of every sample, via the same parser scrapes use.
fn narthex_model_parse(text: &str) -> Vec<(String, f64)> {
    narthex_model::exposition::parse_text(text)
        .unwrap()
        .samples
        .iter()
        .map(|s| (s.name.to_string(), s.value))
        .collect()
}

#[test]
fn samples_survive_kill_9_and_restart() {
    let data = tempfile::tempdir().unwrap();
    let before = {
        let mut narthex = Narthex::start(data.path(), &[]);
        let json = narthex.wait_for_series("up");
        let t = json["data"]["result"][0]["value"][0].as_f64().unwrap();
        // SIGKILL: no shutdown path runs.
        narthex.child.kill().unwrap();
        narthex.child.wait().unwrap();
        t
    };
    let narthex = Narthex::start(data.path(), &[]);
    let (status, json) = narthex.query_json(&format!(
        "/api/v1/query_range?query=up&start={}&end={}&step=1",
        before - 5.0,
        before + 1.0
    ));
    assert_eq!(status, 200);
    let values = json["data"]["result"][0]["values"].as_array().unwrap();
    assert!(!values.is_empty(), "{json}");
}

/// The walk-through's queries, `up` and `rate(prometheus_tsdb_head_samples_appended_total[..])`,
/// answer over a time range that spans a `kill -9` and a restart.
#[test]
fn the_seed_queries_work_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: narthex\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["server", "--config.file", config.to_str().unwrap()];
    let rate = "rate(prometheus_tsdb_head_samples_appended_total[3s])";
    let killed_at = {
        let mut narthex = Narthex::start_on(port, &data, &args);
        let json = narthex.wait_for_series(rate);
        let t = json["data"]["result"][0]["value"][0].as_f64().unwrap();
        narthex.child.kill().unwrap();
        narthex.child.wait().unwrap();
        t
    };
    let narthex = Narthex::start_on(port, &data, &args);
    // A rate needs two scrapes after the restart.
    std::thread::sleep(Duration::from_millis(3500));
    let range = |query: &str| {
        let (status, json) = narthex.query_json(&format!(
            "/api/v1/query_range?query={query}&start={}&end={}&step=0.5",
            killed_at - 2.0,
            killed_at + 6.0
        ));
        assert_eq!(status, 200, "{json}");
        json["data"]["result"][0]["values"]
            .as_array()
            .unwrap_or_else(|| panic!("no result for {query}: {json}"))
            .iter()
            .map(|p| p[0].as_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    for query in ["up", rate] {
        let times = range(query);
        assert!(
            times.iter().any(|&t| t <= killed_at),
            "{query}: nothing from before the kill: {times:?}"
        );
        assert!(
            times.iter().any(|&t| t > killed_at + 1.0),
            "{query}: nothing from after the restart: {times:?}"
        );
    }
}

fn run_to_exit(args: &[String]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("narthex kept running with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_config_is_refused_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: [a:1]\n        lables: {a: b}\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&[
        "server".into(),
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{}", free_port()),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("unknown field `lables`"), "{stderr}");
    assert!(stderr.contains("line 7"), "{stderr}");
    // Nothing was created for a server that never started.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn second_instance_on_the_same_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let _first = Narthex::start(data.path(), &[]);
    let (code, stderr) = run_to_exit(&[
        format!("--storage.tsdb.path={}", data.path().display()),
        format!("--web.listen-address=127.0.0.1:{}", free_port()),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("in use by another process"), "{stderr}");
}

#[test]
fn help_names_prometheus_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .args(["server", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config.file",
        "--storage.tsdb.path",
        "--web.listen-address",
        "--query.lookback-delta",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
