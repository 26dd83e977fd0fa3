//! Helpers shared by the end-to-end tests of the real binary: child processes killed on drop,
//! servers (Narthex or Prometheus) on free ports with their own data directory and config file,
//! HTTP and query helpers, polling.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server (Narthex or Prometheus) with its own data directory and config file.
pub struct Server {
    pub process: Process,
    pub base: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.yml")
    }

    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

/// Starts `program` with a config file made from `config` (`{port}` is replaced by the
/// server's own port) and waits until it is ready.
pub async fn start(program: &str, config: &str, extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config.replace("{port}", &port.to_string())).unwrap();
    let mut args: Vec<String> = Vec::new();
    if program.ends_with("narthex") {
        args.push("server".into());
    }
    args.push(format!("--config.file={}", config_path.display()));
    args.push(format!(
        "--storage.tsdb.path={}",
        dir.path().join("data").display()
    ));
    args.push(format!("--web.listen-address=127.0.0.1:{port}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(program)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        process: Process(child),
        base: format!("http://127.0.0.1:{port}"),
        port,
        dir,
    };
    let ready = format!("{}/-/ready", server.base);
    wait_until(
        &format!("{program} ready"),
        Duration::from_secs(60),
        || async { (status_of(&ready).await == Some(200)).then_some(()) },
    )
    .await;
    server
}

pub async fn narthex(config: &str, extra: &[&str]) -> Server {
    start(env!("CARGO_BIN_EXE_narthex"), config, extra).await
}

pub async fn status_of(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

pub async fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

pub async fn get_json(url: &str) -> Value {
    let (status, body) = get_text(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `probe` until it gives a value; panics naming `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An instant query's result vector.
pub async fn query(server: &Server, expr: &str) -> Vec<Value> {
    let url = format!(
        "{}/api/v1/query?query={}",
        server.base,
        percent_encode(expr)
    );
    let json = get_json(&url).await;
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn sample_value(result: &Value) -> f64 {
    result["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
