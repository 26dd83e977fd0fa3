//! The Prometheus HTTP API of the real `narthex` binary, endpoint by endpoint, with exact JSON
//! bodies: `series`, `labels`, `label/<name>/values`, `query` and `query_range` (with `limit`,
//! `timeout` and `--query.max-concurrency`), `format_query`, `parse_query`, and the remote write
//! receiver, errors included.
//!
//! Data goes in through remote write (a protobuf encoded by hand here, independently of the
//! server's decoder, then snappy-compressed), at fixed timestamps so every answer is a constant.
//! `same_answers_as_prometheus` then writes the same bytes into Debian's real Prometheus and
//! compares the answers of both servers byte for byte. Debian ships Prometheus 2.42; where
//! Prometheus 3 (which Narthex follows) answers differently, the 2.42 answer is not compared and
//! the test checks Narthex against Prometheus 3's documented answer instead, saying why.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The fixed base time of the data set: 2023-11-14T22:13:20Z, in milliseconds.
const T0: i64 = 1_700_000_000_000;
const PROMETHEUS: &str = "/usr/bin/prometheus";

// ---------------------------------------------------------------- servers

struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// `narthex server` with an empty configuration (nothing is scraped, so the data is only
    /// what the test writes) and the remote write receiver on.
    fn narthex(extra: &[&str]) -> Server {
        let mut args: Vec<String> =
            vec!["server".into(), "--web.enable-remote-write-receiver".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start(env!("CARGO_BIN_EXE_narthex"), args)
    }

    /// Narthex without the remote write receiver.
    fn narthex_without_receiver() -> Server {
        Server::start(env!("CARGO_BIN_EXE_narthex"), vec!["server".into()])
    }

    /// Debian's Prometheus with the same flags, or `None` when it is not installed.
    fn prometheus() -> Option<Server> {
        if !Path::new(PROMETHEUS).exists() {
            return None;
        }
        Some(Server::start(
            PROMETHEUS,
            vec!["--web.enable-remote-write-receiver".into()],
        ))
    }

    fn start(program: &str, mut args: Vec<String>) -> Server {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").unwrap();
        let port = free_port();
        args.push(format!("--config.file={}", config.display()));
        args.push(format!(
            "--storage.tsdb.path={}",
            data.path().join("data").display()
        ));
        args.push(format!("--web.listen-address=127.0.0.1:{port}"));
        // Logs go to a file: a pipe nobody reads would fill up, and closing it would kill
        // Prometheus (Go exits on EPIPE to stderr).
        let log = std::fs::File::create(data.path().join("server.log")).unwrap();
        let child = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data: data,
        };
        server.wait_ready(program);
        server
    }

    fn wait_ready(&mut self, program: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = Http::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._data.path().join("server.log"))
                    .unwrap_or_default();
                panic!("{program} exited with {status}: {log}");
            }
            if http.try_get(&format!("{}/-/ready", self.base)) == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{program} did not become ready");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- HTTP

/// A response: status, content type, body.
#[derive(Debug, Clone, PartialEq)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

/// Blocking HTTP on top of reqwest's async client.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            // A fresh connection per request: a server may close an idle one just as the
            // next request goes out on it, which would fail a comparison for no reason.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    fn try_get(&self, url: &str) -> Option<u16> {
        self.runtime.block_on(async {
            let response = self.client.get(url).send().await.ok()?;
            Some(response.status().as_u16())
        })
    }

    fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = response.text().await.unwrap();
            Reply {
                status,
                content_type,
                body,
            }
        })
    }

    fn get(&self, server: &Server, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", server.base)))
    }

    fn post_form(&self, server: &Server, path: &str, form: &str) -> Reply {
        self.send(
            self.client
                .post(format!("{}{path}", server.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_string()),
        )
    }

    /// A remote write request with remote write 1.0's headers.
    fn write(&self, server: &Server, body: Vec<u8>) -> Reply {
        self.write_with(server, "application/x-protobuf", body)
    }

    fn write_with(&self, server: &Server, content_type: &str, body: Vec<u8>) -> Reply {
        self.send(
            self.client
                .post(format!("{}/api/v1/write", server.base))
                .header("Content-Type", content_type)
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body),
        )
    }
}

/// `key=value&...` with every byte but letters and digits percent-encoded.
fn query_string(params: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn api(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        format!("/api/v1/{path}")
    } else {
        format!("/api/v1/{path}?{}", query_string(params))
    }
}

/// Seconds after `T0`, as the API's Unix-seconds parameter.
fn at(seconds_after_t0: i64) -> String {
    (T0 / 1000 + seconds_after_t0).to_string()
}

// ---------------------------------------------------------------- remote write encoding

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited protobuf field.
fn field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

type TestSeries<'a> = (Vec<(&'a str, &'a str)>, Vec<(i64, f64)>);

/// A `prometheus.WriteRequest`, encoded by hand (labels as given, not sorted).
fn write_request(series: &[TestSeries]) -> Vec<u8> {
    let mut request = Vec::new();
    for (labels, samples) in series {
        let mut timeseries = Vec::new();
        for (name, value) in labels {
            let mut label = Vec::new();
            field(1, name.as_bytes(), &mut label);
            field(2, value.as_bytes(), &mut label);
            field(1, &label, &mut timeseries);
        }
        for &(t, v) in samples {
            let mut sample = Vec::new();
            varint(1 << 3 | 1, &mut sample);
            sample.extend_from_slice(&v.to_le_bytes());
            varint(2 << 3, &mut sample);
            varint(t as u64, &mut sample);
            field(2, &sample, &mut timeseries);
        }
        field(1, &timeseries, &mut request);
    }
    request
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// The data set: three counters over ten minutes, a gauge over the first five, a series an hour
/// before the others, and one whose label value needs HTML-safe escaping.
fn data_set() -> Vec<u8> {
    let every_15s = |n: i64, value: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
        (0..=n).map(|i| (T0 + i * 15_000, value(i))).collect()
    };
    let series: Vec<TestSeries> = vec![
        (
            vec![
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("instance", "a:1"),
                ("method", "GET"),
            ],
            every_15s(40, &|i| 10.0 * i as f64),
        ),
        (
            vec![
                ("__name__", "http_requests_total"),
                ("instance", "b:1"),
                ("job", "api"),
                ("method", "POST"),
            ],
            every_15s(40, &|i| 5.0 * i as f64),
        ),
        (
            vec![
                ("__name__", "http_requests_total"),
                ("instance", "c:1"),
                ("job", "db"),
                ("method", "GET"),
            ],
            every_15s(40, &|i| i as f64),
        ),
        (
            vec![
                ("__name__", "node_memory_bytes"),
                ("instance", "a:1"),
                ("job", "node"),
            ],
            every_15s(20, &|i| 1000.0 + i as f64),
        ),
        (
            vec![("__name__", "old_metric"), ("job", "gone")],
            vec![(T0 - 3_600_000, 1.0)],
        ),
        (
            vec![("__name__", "escaped"), ("job", "x"), ("path", "/a<b>&c")],
            vec![(T0, 0.5)],
        ),
    ];
    snappy(&write_request(&series))
}

/// Debian's Prometheus and Narthex, both loaded with the data set; `None` (saying so) when
/// Prometheus is not installed.
fn both_loaded(test: &str) -> Option<(Server, Server, Http)> {
    let Some(prometheus) = Server::prometheus() else {
        eprintln!("SKIPPED {test}: {PROMETHEUS} is not installed (apt-get install prometheus)");
        return None;
    };
    let (narthex, http) = loaded_narthex(&[]);
    let reply = http.write(&prometheus, data_set());
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (204, ""),
        "Prometheus refused the data set"
    );
    Some((prometheus, narthex, http))
}

fn loaded_narthex(extra: &[&str]) -> (Server, Http) {
    let narthex = Server::narthex(extra);
    let http = Http::new();
    let reply = http.write(&narthex, data_set());
    assert_eq!((reply.status, reply.body.as_str()), (204, ""), "{reply:?}");
    (narthex, http)
}

/// Asserts status and exact body, with the content type Prometheus gives JSON.
#[track_caller]
fn assert_json(reply: Reply, status: u16, body: &str) {
    assert_eq!(reply.body, body);
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
}

const A: &str = r#"{"__name__":"http_requests_total","instance":"a:1","job":"api","method":"GET"}"#;
const B: &str =
    r#"{"__name__":"http_requests_total","instance":"b:1","job":"api","method":"POST"}"#;
const C: &str = r#"{"__name__":"http_requests_total","instance":"c:1","job":"db","method":"GET"}"#;
const D: &str = r#"{"__name__":"node_memory_bytes","instance":"a:1","job":"node"}"#;
const E: &str = r#"{"__name__":"old_metric","job":"gone"}"#;
// Prometheus 3 writes label sets without HTML escapes (2.42 wrote `\u003c`).
const F: &str = r#"{"__name__":"escaped","job":"x","path":"/a<b>&c"}"#;
const TRUNCATED: &str = r#","warnings":["results truncated due to limit"]"#;

fn success(data: &str) -> String {
    format!(r#"{{"status":"success","data":{data}}}"#)
}

fn bad_data(message: &str) -> String {
    let escaped = serde_json::to_string(message).unwrap();
    format!(r#"{{"status":"error","errorType":"bad_data","error":{escaped}}}"#)
}

// ---------------------------------------------------------------- the endpoints

#[test]
fn series_by_matchers_time_range_and_limit() {
    let (narthex, http) = loaded_narthex(&[]);
    let get = |params: &[(&str, &str)]| http.get(&narthex, &api("series", params));

    assert_json(
        get(&[("match[]", "http_requests_total")]),
        200,
        &success(&format!("[{A},{B},{C}]")),
    );
    // Several selectors: the union, sorted, each series once.
    assert_json(
        get(&[
            ("match[]", "node_memory_bytes"),
            ("match[]", "{job=\"api\"}"),
            ("match[]", "{instance=\"a:1\"}"),
        ]),
        200,
        &success(&format!("[{A},{B},{D}]")),
    );
    // Only series with a sample in [start, end].
    let all = ("match[]", "{__name__=~\".+\"}");
    assert_json(
        get(&[all, ("start", &at(-7200)), ("end", &at(-1800))]),
        200,
        &success(&format!("[{E}]")),
    );
    assert_json(
        get(&[all, ("start", &at(301))]),
        200,
        &success(&format!("[{A},{B},{C}]")),
    );
    assert_json(
        get(&[all, ("end", &at(-1))]),
        200,
        &success(&format!("[{E}]")),
    );
    assert_json(
        get(&[
            all,
            ("start", "2023-11-14T22:13:20Z"),
            ("end", "2023-11-14T22:13:20Z"),
        ]),
        200,
        &success(&format!("[{F},{A},{B},{C},{D}]")),
    );
    // Prometheus's own bounds, as clients send them for "all time".
    assert_json(
        get(&[
            all,
            ("start", "-292273086-05-16T16:47:06Z"),
            ("end", "292277025-08-18T07:12:54.999999999Z"),
        ]),
        200,
        &success(&format!("[{F},{A},{B},{C},{D},{E}]")),
    );
    assert_json(get(&[("match[]", "nothing_here")]), 200, &success("[]"));
    // limit: a warning only when something was left out.
    assert_json(
        get(&[all, ("limit", "2")]),
        200,
        &format!(r#"{{"status":"success","data":[{F},{A}]{TRUNCATED}}}"#),
    );
    assert_json(
        get(&[all, ("limit", "6")]),
        200,
        &success(&format!("[{F},{A},{B},{C},{D},{E}]")),
    );
    assert_json(
        get(&[all, ("limit", "0")]),
        200,
        &success(&format!("[{F},{A},{B},{C},{D},{E}]")),
    );
    // POST with a form body.
    assert_json(
        http.post_form(
            &narthex,
            "/api/v1/series",
            &query_string(&[("match[]", "{job=\"db\"}")]),
        ),
        200,
        &success(&format!("[{C}]")),
    );

    assert_json(get(&[]), 400, &bad_data("no match[] parameter provided"));
    assert_json(
        get(&[("match[]", "{job=~\".*\"}")]),
        400,
        &bad_data(
            "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher",
        ),
    );
    assert_json(
        get(&[("match[]", "up[5m]")]),
        400,
        &bad_data("invalid parameter \"match[]\": 1:3: parse error: unexpected \"[\""),
    );
    assert_json(
        get(&[("match[]", "up"), ("start", "soon")]),
        400,
        &bad_data("invalid parameter \"start\": invalid time value for 'start': cannot parse \"soon\" to a valid timestamp"),
    );
    assert_json(
        get(&[("match[]", "up"), ("limit", "x")]),
        400,
        &bad_data("invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"),
    );
    assert_json(
        get(&[("match[]", "up"), ("limit", "-1")]),
        400,
        &bad_data("invalid parameter \"limit\": limit must be non-negative"),
    );
}

#[test]
fn tsdb_status_and_admin_endpoints() {
    let (narthex, http) = loaded_narthex(&["--web.enable-admin-api"]);
    // Exact bytes: Prometheus's field order; ties in name order.
    assert_json(
        http.get(&narthex, "/api/v1/status/tsdb?limit=2"),
        200,
        &success(concat!(
            r#"{"headStats":{"numSeries":6,"numLabelPairs":15,"chunkCount":6,"minTime":1699996400000,"maxTime":1700000600000},"#,
            r#""seriesCountByMetricName":[{"name":"http_requests_total","value":3},{"name":"escaped","value":1}],"#,
            r#""labelValueCountByLabelName":[{"name":"job","value":5},{"name":"__name__","value":4}],"#,
            r#""memoryInBytesByLabelName":[{"name":"__name__","value":53},{"name":"job","value":14}],"#,
            r#""seriesCountByLabelValuePair":[{"name":"__name__=http_requests_total","value":3},{"name":"instance=a:1","value":2}]}"#
        )),
    );
    assert_json(
        http.get(&narthex, "/api/v1/status/tsdb?limit=0"),
        400,
        &bad_data("limit must be a positive number"),
    );

    // delete_series: 204, and the samples are gone from queries.
    let reply = http.post_form(
        &narthex,
        "/api/v1/admin/tsdb/delete_series",
        "match[]=http_requests_total{job=\"api\"}",
    );
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    let reply = http.get(
        &narthex,
        &api("series", &[("match[]", "http_requests_total")]),
    );
    assert_json(reply, 200, &success(&format!("[{C}]")));
    let reply = http.post_form(&narthex, "/api/v1/admin/tsdb/delete_series", "");
    assert_json(reply, 400, &bad_data("no match[] parameter provided"));
    let reply = http.post_form(&narthex, "/api/v1/admin/tsdb/clean_tombstones", "");
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));

    // snapshot: a directory under <data>/snapshots that opens as a database of its own.
    let reply = http.post_form(&narthex, "/api/v1/admin/tsdb/snapshot", "");
    assert_eq!(reply.status, 200, "{reply:?}");
    let doc: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let name = doc["data"]["name"].as_str().unwrap().to_string();
    let snapshot = narthex._data.path().join("data/snapshots").join(&name);
    assert!(snapshot.join("CURRENT").exists(), "{}", snapshot.display());
    let copy = narthex_tsdb::Tsdb::open(&snapshot).unwrap();
    assert_eq!(
        copy.series_count(),
        4,
        "the two deleted series are not in the snapshot"
    );
}

#[test]
fn label_names_and_values() {
    let (narthex, http) = loaded_narthex(&[]);
    let labels = |params: &[(&str, &str)]| http.get(&narthex, &api("labels", params));
    let values = |name: &str, params: &[(&str, &str)]| {
        http.get(&narthex, &api(&format!("label/{name}/values"), params))
    };

    assert_json(
        labels(&[]),
        200,
        &success(r#"["__name__","instance","job","method","path"]"#),
    );
    assert_json(
        labels(&[("match[]", "node_memory_bytes")]),
        200,
        &success(r#"["__name__","instance","job"]"#),
    );
    assert_json(
        labels(&[("match[]", "node_memory_bytes"), ("match[]", "escaped")]),
        200,
        &success(r#"["__name__","instance","job","path"]"#),
    );
    // The range touches Prometheus's head, which holds every series here (the data spans
    // 70 minutes): their names all count, whatever their samples' times.
    assert_json(
        labels(&[("start", &at(-7200)), ("end", &at(-1800))]),
        200,
        &success(r#"["__name__","instance","job","method","path"]"#),
    );
    assert_json(labels(&[("start", &at(9999))]), 200, &success("[]"));
    assert_json(
        labels(&[("limit", "2")]),
        200,
        &format!(r#"{{"status":"success","data":["__name__","instance"]{TRUNCATED}}}"#),
    );
    assert_json(
        http.post_form(
            &narthex,
            "/api/v1/labels",
            &query_string(&[("match[]", "old_metric")]),
        ),
        200,
        &success(r#"["__name__","job"]"#),
    );

    assert_json(
        values("job", &[]),
        200,
        &success(r#"["api","db","gone","node","x"]"#),
    );
    assert_json(
        values("job", &[("match[]", "http_requests_total")]),
        200,
        &success(r#"["api","db"]"#),
    );
    assert_json(
        values("job", &[("start", &at(301))]),
        200,
        &success(r#"["api","db","gone","node","x"]"#),
    );
    assert_json(
        values("__name__", &[]),
        200,
        &success(r#"["escaped","http_requests_total","node_memory_bytes","old_metric"]"#),
    );
    assert_json(
        values("path", &[]),
        200,
        &success(r#"["/a\u003cb\u003e\u0026c"]"#),
    );
    assert_json(values("nope", &[]), 200, &success("[]"));
    assert_json(
        values("instance", &[("limit", "1")]),
        200,
        &format!(r#"{{"status":"success","data":["a:1"]{TRUNCATED}}}"#),
    );
    // Prometheus 3 takes any UTF-8 name, escaped or not.
    assert_json(
        values("U__jo_62_", &[]),
        200,
        &success(r#"["api","db","gone","node","x"]"#),
    );

    assert_json(
        values("%FF", &[]),
        400,
        &bad_data("invalid label name: \"\\xff\""),
    );
    assert_json(
        values("job", &[("match[]", "{job!=\"\"")]),
        400,
        &bad_data("1:9: parse error: unexpected end of input inside braces"),
    );
    // Unlike series, Prometheus reports these without naming the parameter.
    assert_json(
        labels(&[("match[]", "{a=~\"\"}")]),
        400,
        &bad_data("match[] must contain at least one non-empty matcher"),
    );
    assert_json(
        labels(&[("end", "later")]),
        400,
        &bad_data("invalid parameter \"end\": invalid time value for 'end': cannot parse \"later\" to a valid timestamp"),
    );
}

/// `stats` adds Prometheus's `data.stats` object: every timing it names and the sample counts.
#[test]
fn query_stats_on_request() {
    let (narthex, http) = loaded_narthex(&[]);
    let t600 = at(600);
    let reply = http.get(
        &narthex,
        &api(
            "query",
            &[
                ("query", "http_requests_total"),
                ("time", &t600),
                ("stats", "all"),
            ],
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let data = body["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["result", "resultType", "stats"]
    );
    assert_eq!(data["result"].as_array().unwrap().len(), 3);
    let timings = data["stats"]["timings"].as_object().unwrap();
    let mut timing_names: Vec<&str> = timings.keys().map(String::as_str).collect();
    timing_names.sort_unstable();
    assert_eq!(
        timing_names,
        [
            "evalTotalTime",
            "execQueueTime",
            "execTotalTime",
            "innerEvalTime",
            "queryPreparationTime",
            "resultSortTime"
        ]
    );
    assert!(timings["evalTotalTime"].as_f64().unwrap() > 0.0);
    assert!(
        timings["execTotalTime"].as_f64().unwrap() >= timings["evalTotalTime"].as_f64().unwrap()
    );
    // Three series; an instant selector at one time reads only each series' newest sample in
    // the lookback window (as Prometheus counts it: one a series and step), and holds one
    // sample per series at the single step.
    assert_eq!(
        data["stats"]["samples"],
        serde_json::json!({"totalQueryableSamples": 3, "peakSamples": 3})
    );
    // A range selector reads its window: t0+315 s .. t0+600 s every 15 s, 20 a series.
    let reply = http.get(
        &narthex,
        &api(
            "query",
            &[
                ("query", "count_over_time(http_requests_total[5m])"),
                ("time", &t600),
                ("stats", "all"),
            ],
        ),
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        body["data"]["stats"]["samples"]["totalQueryableSamples"],
        60
    );
    // Its peak, as Prometheus 3.5.3 counts it: the last series' window (20) is still held
    // when its result joins the other two (3).
    assert_eq!(body["data"]["stats"]["samples"]["peakSamples"], 23);

    // An empty value asks for nothing, as in Prometheus.
    let plain = http.get(
        &narthex,
        &api(
            "query",
            &[
                ("query", "http_requests_total"),
                ("time", &t600),
                ("stats", ""),
            ],
        ),
    );
    assert!(!plain.body.contains("stats"), "{}", plain.body);
    // Range queries carry them too.
    let range = http.get(
        &narthex,
        &api(
            "query_range",
            &[
                ("query", "http_requests_total"),
                ("start", &at(300)),
                ("end", &t600),
                ("step", "60"),
                ("stats", "1"),
            ],
        ),
    );
    let body: serde_json::Value = serde_json::from_str(&range.body).unwrap();
    assert_eq!(body["data"]["stats"]["samples"]["peakSamples"], 18);
    // Samples are counted at each step they are used in, as Prometheus 3.5.3 counts them (its
    // figures for the benchmark's queries and 21 more were compared by hand, all equal).
    let t300 = at(300);
    let queried = |endpoint: &str, query: &str| {
        let params: Vec<(&str, &str)> = match endpoint {
            "query" => vec![("query", query), ("time", &t600), ("stats", "all")],
            _ => vec![
                ("query", query),
                ("start", &t300),
                ("end", &t600),
                ("step", "60"),
                ("stats", "all"),
            ],
        };
        let reply = http.get(&narthex, &api(endpoint, &params));
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        body["data"]["stats"]["samples"]["totalQueryableSamples"].clone()
    };
    // Six steps, three series: one sample a series and step (not the 40 each holds there).
    assert_eq!(queried("query_range", "http_requests_total"), 18);
    // A 5m window of 20 samples at each of the six steps.
    assert_eq!(queried("query_range", "rate(http_requests_total[5m])"), 360);
    // `@ end()`: the same window, still counted at every step.
    assert_eq!(
        queried(
            "query_range",
            "max_over_time(http_requests_total[5m] @ end())"
        ),
        360
    );
    // A subquery's points at t0+340..580 s (its 1m steps, on whole minutes) are what the
    // function counts; the samples the subquery itself read are not counted...
    assert_eq!(
        queried(
            "query",
            "max_over_time(rate(http_requests_total[1m])[5m:1m])"
        ),
        15
    );
    // ... unless it is the whole query: four samples a series at each of its five steps.
    assert_eq!(queried("query", "rate(http_requests_total[1m])[5m:1m]"), 60);
}

#[test]
fn query_limit_timeout_and_parameters() {
    let (narthex, http) = loaded_narthex(&[]);
    let query = |params: &[(&str, &str)]| http.get(&narthex, &api("query", params));
    let range = |params: &[(&str, &str)]| http.get(&narthex, &api("query_range", params));
    let t600 = at(600);

    let vector = format!(
        r#"{{"resultType":"vector","result":[{{"metric":{A},"value":[1700000600,"400"]}},{{"metric":{B},"value":[1700000600,"200"]}},{{"metric":{C},"value":[1700000600,"40"]}}]}}"#
    );
    assert_json(
        query(&[("query", "http_requests_total"), ("time", &t600)]),
        200,
        &success(&vector),
    );
    assert_json(
        query(&[
            ("query", "http_requests_total"),
            ("time", &t600),
            ("limit", "3"),
        ]),
        200,
        &success(&vector),
    );
    assert_json(
        query(&[
            ("query", "http_requests_total"),
            ("time", &t600),
            ("limit", "2"),
        ]),
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{A},"value":[1700000600,"400"]}},{{"metric":{B},"value":[1700000600,"200"]}}]}}{TRUNCATED}}}"#
        ),
    );
    // A range vector from an instant query is cut the same way; a scalar has nothing to cut.
    assert_json(
        query(&[
            ("query", "http_requests_total[20s]"),
            ("time", &t600),
            ("limit", "1"),
        ]),
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{A},"values":[[1700000585,"390"],[1700000600,"400"]]}}]}}{TRUNCATED}}}"#
        ),
    );
    assert_json(
        query(&[("query", "1+1"), ("time", &t600), ("limit", "1")]),
        200,
        &success(r#"{"resultType":"scalar","result":[1700000600,"2"]}"#),
    );
    // Prometheus 3.12+ takes limit on range queries too.
    assert_json(
        range(&[
            ("query", "http_requests_total"),
            ("start", &at(0)),
            ("end", &at(60)),
            ("step", "60"),
            ("limit", "1"),
        ]),
        200,
        &format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{A},"values":[[1700000000,"0"],[1700000060,"40"]]}}]}}{TRUNCATED}}}"#
        ),
    );
    // A generous timeout changes nothing.
    assert_json(
        query(&[
            ("query", "http_requests_total"),
            ("time", &t600),
            ("timeout", "30s"),
        ]),
        200,
        &success(&vector),
    );
    // An expired one fails before evaluating, with what Prometheus 3.5.3 answers (which on
    // a bad day for its timing can also be a parse error or an execution error).
    assert_json(
        query(&[
            ("query", "http_requests_total"),
            ("time", &t600),
            ("timeout", "-1"),
        ]),
        400,
        &bad_data("invalid parameter \"query\": context deadline exceeded"),
    );

    assert_json(
        query(&[("query", "up"), ("limit", "-1")]),
        400,
        &bad_data("invalid parameter \"limit\": limit must be non-negative"),
    );
    assert_json(
        query(&[("query", "up"), ("timeout", "soon")]),
        400,
        &bad_data("invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"),
    );
    assert_json(
        query(&[("query", "up"), ("time", "yesterday")]),
        400,
        &bad_data("invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"),
    );
    assert_json(
        query(&[("query", "up{")]),
        400,
        &bad_data(
            "invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces",
        ),
    );
    assert_json(
        range(&[
            ("query", "up"),
            ("start", "10"),
            ("end", "5"),
            ("step", "1"),
        ]),
        400,
        &bad_data("invalid parameter \"end\": end timestamp must not be before start time"),
    );
    assert_json(
        range(&[("query", "up"), ("start", "0"), ("end", "10"), ("step", "0")]),
        400,
        &bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"),
    );
    assert_json(
        range(&[
            ("query", "up"),
            ("start", "x"),
            ("end", "10"),
            ("step", "1"),
        ]),
        400,
        &bad_data("invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"),
    );
    assert_json(
        range(&[
            ("query", "up"),
            ("start", "0"),
            ("end", "10"),
            ("step", "1"),
            ("timeout", "x"),
        ]),
        400,
        &bad_data("invalid parameter \"timeout\": cannot parse \"x\" to a valid duration"),
    );
}

#[test]
fn queries_beyond_max_concurrency_wait_their_turn() {
    let (narthex, _) = loaded_narthex(&["--query.max-concurrency=1"]);
    let path = api(
        "query_range",
        &[
            ("query", "rate(http_requests_total[1m])"),
            ("start", &at(0)),
            ("end", &at(600)),
            ("step", "1"),
        ],
    );
    let replies: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| Http::new().get(&narthex, &path).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies, [200; 8]);
}

/// `__name__` goes where an operation drops it, as in Prometheus by default; with
/// `--enable-feature=promql-delayed-name-removal` it stays to the end of the query, as in
/// Prometheus with that flag (and in its test files). Both answers checked against
/// Prometheus 3.5.3 on the same data.
#[test]
fn name_dropping_at_once_and_delayed_on_request() {
    let (at_once, http) = loaded_narthex(&[]);
    let (delayed, _) = loaded_narthex(&["--enable-feature=promql-delayed-name-removal"]);
    let t = at(120);
    let relabel =
        r#"label_replace(-http_requests_total{instance="a:1"}, "m", "$1", "__name__", "(.+)")"#;
    let query = &api("query", &[("query", relabel), ("time", &t)]);
    assert_json(
        http.get(&at_once, query),
        200,
        &success(&format!(
            r#"{{"resultType":"vector","result":[{{"metric":{{"instance":"a:1","job":"api","method":"GET"}},"value":[{t},"-80"]}}]}}"#
        )),
    );
    assert_json(
        http.get(&delayed, query),
        200,
        &success(&format!(
            r#"{{"resultType":"vector","result":[{{"metric":{{"instance":"a:1","job":"api","m":"http_requests_total","method":"GET"}},"value":[{t},"-80"]}}]}}"#
        )),
    );
    // The gauge ends at 5m, visible until 10m; `present_over_time` over 10m lasts longer.
    // At once, `or` then adds the nameless series; delayed, its points join the gauge's.
    let or = "node_memory_bytes or present_over_time(node_memory_bytes[10m])";
    let range = &api(
        "query_range",
        &[
            ("query", or),
            ("start", &at(480)),
            ("end", &at(720)),
            ("step", "60"),
        ],
    );
    let series = |reply: Reply| -> Vec<(String, Vec<String>)> {
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let values = s["values"].as_array().unwrap();
                let values = values.iter().map(|p| p[1].as_str().unwrap().to_string());
                (s["metric"].to_string(), values.collect())
            })
            .collect()
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        series(http.get(&at_once, range)),
        [
            (D.to_string(), strings(&["1020", "1020"])),
            (
                r#"{"instance":"a:1","job":"node"}"#.to_string(),
                strings(&["1", "1", "1"])
            ),
        ]
    );
    assert_eq!(
        series(http.get(&delayed, range)),
        [(D.to_string(), strings(&["1020", "1020", "1", "1", "1"]))]
    );
}

#[test]
fn format_and_parse_query() {
    let narthex = Server::narthex(&[]);
    let http = Http::new();
    let format = |q: &str| http.get(&narthex, &api("format_query", &[("query", q)]));
    let parse = |q: &str| http.get(&narthex, &api("parse_query", &[("query", q)]));

    assert_json(
        format("sum(rate(http_requests_total{job=\"api\",a=\"b\"}[5m]))by(job)"),
        200,
        &success(r#""sum by (job) (rate(http_requests_total{a=\"b\",job=\"api\"}[5m]))""#),
    );
    // Longer than 100 characters: split over lines as Prometheus's prettifier does.
    assert_json(
        format("sum by (job) (rate(very_long_metric_name_number_one_for_testing{job=\"api\"}[5m]) * on(instance) group_left(version) very_long_metric_name_number_two{instance!=\"\"})"),
        200,
        &success(r#""sum by (job) (\n    rate(very_long_metric_name_number_one_for_testing{job=\"api\"}[5m])\n  * on (instance) group_left (version)\n    very_long_metric_name_number_two{instance!=\"\"}\n)""#),
    );
    assert_json(
        http.post_form(&narthex, "/api/v1/format_query", "query=foo%3E1"),
        200,
        &success(r#""foo \u003e 1""#),
    );
    assert_json(
        format("sum("),
        400,
        &bad_data("invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"),
    );

    // Prometheus 3's tree (web/api/v1/translate_ast.go), keys sorted as Go writes map keys.
    assert_json(
        parse("up{job=\"a\"}"),
        200,
        &success(
            r#"{"anchored":false,"matchers":[{"name":"job","type":"=","value":"a"},{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}"#,
        ),
    );
    assert_json(
        parse("topk(3, rate(x[5m] offset 1m)) > bool 0.5"),
        200,
        &success(concat!(
            r#"{"bool":true,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":60000,"offsetExpr":null,"range":300000,"rangeExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"#,
            r#""func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":[],"op":"topk","param":{"type":"numberLiteral","val":"3"},"type":"aggregation","without":false},"#,
            r#""matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"0.5"},"type":"binaryExpr"}"#
        )),
    );
    assert_json(
        parse("max_over_time((a + on(x) b)[10m:1m] @ end())"),
        200,
        &success(concat!(
            r#"{"args":[{"expr":{"expr":{"bool":false,"lhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"a"}],"name":"a","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"#,
            r#""matching":{"card":"one-to-one","fillValues":{"lhs":null,"rhs":null},"include":[],"labels":["x"],"on":true},"op":"+","rhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"b"}],"name":"b","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"type":"binaryExpr"},"type":"parenExpr"},"#,
            r#""offset":0,"offsetExpr":null,"range":600000,"rangeExpr":null,"startOrEnd":"end","step":60000,"stepExpr":null,"timestamp":null,"type":"subquery"}],"#,
            r#""func":{"argTypes":["matrix"],"name":"max_over_time","returnType":"vector","variadic":0},"type":"call"}"#
        )),
    );
    assert_json(
        parse("-label_join(v, \"dst\", \",\", \"a\")"),
        200,
        &success(concat!(
            r#"{"expr":{"args":[{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"v"}],"name":"v","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"#,
            r#"{"type":"stringLiteral","val":"dst"},{"type":"stringLiteral","val":","},{"type":"stringLiteral","val":"a"}],"#,
            r#""func":{"argTypes":["vector","string","string","string"],"name":"label_join","returnType":"vector","variadic":-1},"type":"call"},"op":"-","type":"unaryExpr"}"#
        )),
    );
    assert_json(
        parse("foo offset"),
        400,
        &bad_data("invalid parameter \"query\": 1:11: parse error: unexpected end of input in offset, expected number, duration, step(), or range()"),
    );
}

#[test]
fn remote_write_receiver() {
    let (narthex, http) = loaded_narthex(&[]);
    let series = |params: &[(&str, &str)]| http.get(&narthex, &api("series", params));
    let a_labels: Vec<(&str, &str)> = vec![
        ("__name__", "http_requests_total"),
        ("instance", "a:1"),
        ("job", "api"),
        ("method", "GET"),
    ];
    let text_error = |reply: Reply, status: u16, body: &str| {
        assert_eq!((reply.status, reply.body.as_str()), (status, body));
        assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    };

    // Out of order: the whole request is refused, the good series in it included.
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[
            (vec![("__name__", "new_series")], vec![(T0 + 700_000, 1.0)]),
            (a_labels.clone(), vec![(T0 + 300_000, 1.0)]),
        ])),
    );
    text_error(reply, 400, "out of order sample\n");
    assert_json(series(&[("match[]", "new_series")]), 200, &success("[]"));

    // Another value at the newest timestamp: Prometheus 3's message.
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            a_labels.clone(),
            vec![(T0 + 600_000, 1.0)],
        )])),
    );
    text_error(
        reply,
        400,
        "duplicate sample for timestamp 1700000600000; overrides not allowed: existing 400, new value 1 for series {__name__=\"http_requests_total\", instance=\"a:1\", job=\"api\", method=\"GET\"}\n",
    );
    // The same value again is accepted, as Prometheus accepts an identical resend.
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            a_labels.clone(),
            vec![(T0 + 600_000, 400.0)],
        )])),
    );
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));

    // Series with label sets that cannot be stored are skipped, and the rest of the request is
    // written, as Prometheus 3.5.3 does (204).
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[
            (vec![("job", "a")], vec![(T0, 1.0)]),
            (
                vec![("__name__", "x"), ("a", "1"), ("a", "2")],
                vec![(T0, 1.0)],
            ),
            (vec![("__name__", "kept_beside_bad_ones")], vec![(T0, 7.0)]),
        ])),
    );
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    assert_json(series(&[("match[]", "{job=\"a\"}")]), 200, &success("[]"));
    assert_json(
        series(&[("match[]", "kept_beside_bad_ones")]),
        200,
        &success(r#"[{"__name__":"kept_beside_bad_ones"}]"#),
    );
    // Samples out of order only against earlier ones of their series in the same request are
    // dropped, as Prometheus's head drops them at commit; the others are written.
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            vec![("__name__", "in_request_order")],
            vec![(T0 + 2_000, 2.0), (T0 + 1_000, 1.0), (T0 + 3_000, 3.0)],
        )])),
    );
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    // But a sample older than what is stored refuses the request, even after a newer one in
    // the same request, as Prometheus checks each sample against the stored series.
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            vec![("__name__", "in_request_order")],
            vec![(T0 + 9_000, 9.0), (T0 + 2_500, 2.5)],
        )])),
    );
    text_error(reply, 400, "out of order sample\n");
    assert_json(
        http.get(
            &narthex,
            &api(
                "query",
                &[
                    ("query", "count_over_time(in_request_order[1m])"),
                    ("time", &at(10)),
                ],
            ),
        ),
        200,
        &success(&format!(
            r#"{{"resultType":"vector","result":[{{"metric":{{}},"value":[{},"2"]}}]}}"#,
            at(10)
        )),
    );
    // Samples too far in the future, as Prometheus 3 refuses them.
    let future = now_ms() + 3_600_000;
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            vec![("__name__", "x")],
            vec![(future, 1.0)],
        )])),
    );
    text_error(
        reply,
        400,
        "out of bounds: timestamp is too far in the future\n",
    );

    // Bodies that are not snappy, or not a WriteRequest.
    let reply = http.write(&narthex, b"\xff\xff\xff\xff\xff\xff".to_vec());
    assert_eq!(reply.status, 400);
    assert!(reply.body.starts_with("snappy: "), "{}", reply.body);
    let reply = http.write(&narthex, snappy(b"\x0a\x05\x0a"));
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.starts_with("failed to decode Protobuf message"),
        "{}",
        reply.body
    );
    // Remote write 2.0 and other formats are not this endpoint's.
    let reply = http.write_with(
        &narthex,
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        data_set(),
    );
    text_error(
        reply,
        415,
        "io.prometheus.write.v2.Request protobuf message is not accepted by this server; accepted [prometheus.WriteRequest]\n",
    );
    let reply = http.write_with(&narthex, "application/json", data_set());
    text_error(reply, 415, "expected application/x-protobuf as the first (media) part, got application/json content-type\n");

    // Nothing of the refused requests was written.
    assert_json(
        series(&[("match[]", "{__name__=~\"new_series|x\"}")]),
        200,
        &success("[]"),
    );
    assert_json(
        http.get(
            &narthex,
            &api(
                "query",
                &[
                    ("query", "http_requests_total{instance=\"a:1\"}"),
                    ("time", &at(600)),
                ],
            ),
        ),
        200,
        &success(&format!(
            r#"{{"resultType":"vector","result":[{{"metric":{A},"value":[1700000600,"400"]}}]}}"#
        )),
    );

    // Off unless enabled, with Prometheus's answer.
    let plain = Server::narthex_without_receiver();
    let reply = http.write(&plain, data_set());
    text_error(
        reply,
        404,
        "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n",
    );
}

/// The project's dependency-free client (`shared/bench/remote_write.py`, a hand-encoded protobuf
/// in a snappy block of literals only) writes, too: a second, independent encoder.
#[test]
fn the_shared_python_client_writes() {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    let python = Command::new("python3").arg("--version").output();
    if !bench.join("remote_write.py").exists() || python.is_err() {
        eprintln!(
            "SKIPPED the_shared_python_client_writes: needs python3 and {}",
            bench.display()
        );
        return;
    }
    let narthex = Server::narthex(&[]);
    let script = format!(
        "import remote_write as rw\nprint(rw.push('{}/api/v1/write', [({{'__name__': 'py_metric', 'job': 'py', 'zone': 'é'}}, [({}, 1.5), ({}, -2.25)])]))",
        narthex.base,
        T0,
        T0 + 15_000
    );
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(&bench)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "204",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let http = Http::new();
    assert_json(
        http.get(
            &narthex,
            &api("query", &[("query", "py_metric[1m]"), ("time", &at(15))]),
        ),
        200,
        &success(
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"py_metric","job":"py","zone":"é"},"values":[[1700000000,"1.5"],[1700000015,"-2.25"]]}]}"#,
        ),
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------- against Prometheus

/// Prometheus 2.42's answer as Prometheus 3 gives it, where only its writing moved:
/// - Prometheus 3 reports a query that does not parse in a range query as an invalid `query`
///   parameter (`invalidParamError`), as it always did for instant queries; 2.42 gave the
///   parser's message alone.
/// - Label sets are written without HTML escapes (checked against Prometheus 3.5.3).
fn prometheus_3(endpoint: &str, mut reply: Reply) -> Reply {
    // Prometheus 3 starts the message of a bad time parameter in lower case.
    reply.body = reply
        .body
        .replace("Invalid time value for", "invalid time value for");
    if endpoint == "query_range" && reply.body.contains(r#""error":"1:"#) {
        reply.body = reply.body.replace(
            r#""error":"1:"#,
            r#""error":"invalid parameter \"query\": 1:"#,
        );
    }
    // An empty query has no position in Prometheus 3.5.3.
    reply.body = reply.body.replace(
        "1:1: parse error: no expression found in input",
        "unknown position: parse error: no expression found in input",
    );
    // Prometheus 3.5.3 names the parameter of an expression a range query cannot take too.
    reply.body = reply.body.replace(
        r#""error":"invalid expression type"#,
        r#""error":"invalid parameter \"query\": invalid expression type"#,
    );
    // Prometheus 3 writes label sets (vectors, matrices, series) with json-iterator's own
    // writer, which does not escape `<`, `>` and `&` as 2.42 did; string results and errors keep
    // the escapes. The data set has these characters only in label values.
    let label_sets = match endpoint {
        "query" | "query_range" => {
            reply.body.contains(r#""resultType":"vector""#)
                || reply.body.contains(r#""resultType":"matrix""#)
        }
        "series" => reply.body.starts_with(r#"{"status":"success""#),
        _ => false,
    };
    if label_sets && !reply.body.contains(r#""warnings""#) {
        reply.body = reply
            .body
            .replace(r"\u003c", "<")
            .replace(r"\u003e", ">")
            .replace(r"\u0026", "&");
    }
    reply
}

/// `/api/v1/status/tsdb` lists entries with equal counts in no particular order in Prometheus
/// (a heap over a map); Narthex orders them by name. Puts Prometheus's ties in name order too.
fn ties_in_name_order(mut reply: Reply) -> Reply {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&reply.body) else {
        return reply;
    };
    let Some(data) = doc.get_mut("data").and_then(|d| d.as_object_mut()) else {
        return reply;
    };
    if !data.contains_key("headStats") {
        return reply;
    }
    for (_, list) in data.iter_mut() {
        if let Some(items) = list.as_array_mut() {
            // A cut at 10 falls inside a group of ties at random: compare above that group.
            if items.len() == 10 {
                let last = items[9]["value"].clone();
                items.retain(|x| x["value"] != last);
            }
            items.sort_by(|a, b| {
                let count = |x: &serde_json::Value| x["value"].as_u64().unwrap_or(0);
                let name = |x: &serde_json::Value| x["name"].as_str().unwrap_or("").to_string();
                count(b).cmp(&count(a)).then_with(|| name(a).cmp(&name(b)))
            });
        }
    }
    reply.body = serde_json::to_string(&doc).unwrap();
    reply
}

/// Sends `requests` as they are on one connection (the last one closing it) and reads every
/// answer: status and body. Answers must carry a `Content-Length`.
fn answers_to_bytes(server: &Server, requests: &[u8]) -> Vec<(u16, String)> {
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(requests).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let mut answers = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (head, body_start, end) = answer_extent(rest)
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(rest)));
        let status: u16 = head[9..12].parse().unwrap();
        let body = &rest[body_start..end];
        answers.push((status, String::from_utf8_lossy(body).into_owned()));
        rest = &rest[end..];
    }
    answers
}

/// The first answer in `bytes`, once its head is complete: the head in lower case, where its
/// body starts and where it ends (by its `Content-Length`, 0 without one).
fn answer_extent(bytes: &[u8]) -> Option<(String, usize, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    Some((head, head_end + 4, head_end + 4 + length))
}

/// `curl 'host/api/v1/query?query=up{job="a"}'` sends `"`, `<` and `>` unencoded; Go's
/// server takes them, and so must Narthex (hyper alone refuses such a request line), on every
/// request of a keep-alive connection. Query strings are read as Go reads them: a pair with a
/// malformed escape is left out, and `series` refuses it.
#[test]
fn unencoded_quotes_and_brackets_and_malformed_escapes_as_prometheus_takes_them() {
    let Some((prometheus, narthex, _http)) = both_loaded("unencoded_quotes_and_brackets...") else {
        return;
    };
    let t600 = at(600);
    let form = format!("query=http_requests_total{{job=\"db\"}}>0&time={t600}");
    let requests = format!(
        "GET /api/v1/query?query=http_requests_total{{job=\"api\"}}>5&time={t600} HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}\
         GET /api/v1/series?match[]={{job=\"node\"}}&match[]=escaped HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /api/v1/query?query=a%zz&time={t600} HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /api/v1/series?match[]=up&x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        form.len()
    );
    let ours = answers_to_bytes(&narthex, requests.as_bytes());
    let theirs: Vec<(u16, String)> = answers_to_bytes(&prometheus, requests.as_bytes())
        .into_iter()
        .zip(["query", "query", "series", "query", "series"])
        .map(|((status, body), endpoint)| {
            let reply = prometheus_3(
                endpoint,
                Reply {
                    status,
                    content_type: String::new(),
                    body,
                },
            );
            (reply.status, reply.body)
        })
        .collect();
    assert_eq!(ours.len(), 5, "{ours:?}");
    assert_eq!(ours, theirs);
    assert!(ours[0].1.contains(r#""instance":"b:1""#), "{ours:?}");
    assert!(ours[1].1.contains(r#""job":"db""#), "{ours:?}");
    assert!(
        ours[4]
            .1
            .contains(r#"error parsing form values: invalid URL escape \"%zz\""#),
        "{ours:?}"
    );
}

/// The series of an answer, each named by its `instance` (or `job`, or nothing), with its
/// value, or its number of samples for a range vector.
fn listed(reply: &Reply) -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let result = doc["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    result
        .iter()
        .map(|series| {
            let metric = &series["metric"];
            let name = metric["instance"].as_str().or(metric["job"].as_str());
            let value = match series["value"][1].as_str() {
                Some(value) => value.to_string(),
                None => series["values"].as_array().map_or(0, Vec::len).to_string(),
            };
            (name.unwrap_or("").to_string(), value)
        })
        .collect()
}

/// Prometheus 3 lists an instant vector's series in the order its storage gives them, which
/// for a query that reads its head block alone is the order the series were created in, and
/// adds up aggregations in that order; a query reading persisted blocks gets them sorted by
/// labels. (Prometheus 2.42, the reference of the test above, sorts in both cases.) The
/// answers expected here are Prometheus 3.5.3's for the same writes and queries.
#[test]
fn selections_come_in_the_order_prometheus_3_gives() {
    let narthex = Server::narthex(&[]);
    let http = Http::new();
    // One sample six hours back first (Prometheus refuses one that old after newer ones):
    // with it the data spans more than three hours, and Prometheus persists the two-hour
    // block that holds it.
    let old = snappy(&write_request(&[(
        vec![("__name__", "old"), ("job", "x")],
        vec![(T0 - 6 * 3_600_000, 1.0)],
    )]));
    // Created c, a, b. The last digit of their standard deviation depends on the order.
    let every_15s = |value: f64, step: f64| -> Vec<(i64, f64)> {
        (0..=40)
            .map(|i| (T0 + i * 15_000, value + step * i as f64))
            .collect()
    };
    let created = snappy(&write_request(&[
        (
            vec![("__name__", "created"), ("job", "z"), ("instance", "c")],
            every_15s(3266829354.25, 0.0),
        ),
        (
            vec![("__name__", "created"), ("job", "y"), ("instance", "a")],
            every_15s(3763764475.25, 0.0),
        ),
        (
            vec![("__name__", "created"), ("job", "z"), ("instance", "b")],
            every_15s(1507054007.75, 1.0),
        ),
    ]));
    for body in [old, created] {
        let reply = http.write(&narthex, body);
        assert_eq!((reply.status, reply.body.as_str()), (204, ""), "{reply:?}");
    }
    let ask = |query: &str, time: &str| {
        let reply = http.get(&narthex, &api("query", &[("query", query), ("time", time)]));
        assert_eq!(reply.status, 200, "{query}: {reply:?}");
        listed(&reply)
    };
    let pairs = |expected: &[(&str, &str)]| -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    };
    let (t0, t600) = (at(0), at(600));
    // The last five minutes are in the head.
    assert_eq!(
        ask("created", &t600),
        pairs(&[
            ("c", "3266829354.25"),
            ("a", "3763764475.25"),
            ("b", "1507054047.75")
        ])
    );
    assert_eq!(
        ask("sum by (job) (created)", &t600),
        pairs(&[("z", "4773883402"), ("y", "3763764475.25")])
    );
    assert_eq!(
        ask("stddev(created)", &t0),
        pairs(&[("", "968188223.1350442")])
    );
    assert_eq!(
        ask("created * 2 or created", &t600),
        pairs(&[
            ("c", "6533658708.5"),
            ("a", "7527528950.5"),
            ("b", "3014108095.5")
        ])
    );
    // A range vector is sorted whatever the storage gives.
    assert_eq!(
        ask("created[1m]", &t600),
        pairs(&[("a", "4"), ("b", "4"), ("c", "4")])
    );
    // Five hours back reaches the persisted block: sorted, and added up in label order.
    assert_eq!(
        ask("last_over_time(created[5h])", &t600),
        pairs(&[
            ("a", "3763764475.25"),
            ("b", "1507054047.75"),
            ("c", "3266829354.25")
        ])
    );
    assert_eq!(
        ask("stddev(last_over_time(created[5h] @ 1700000000))", &t600),
        pairs(&[("", "968188223.1350443")])
    );
}

#[test]
fn same_answers_as_prometheus() {
    let Some((prometheus, narthex, http)) = both_loaded("same_answers_as_prometheus") else {
        return;
    };

    let all = ("match[]", "{__name__=~\".+\"}");
    let (t500, t590, t600) = (at(500), at(590), at(600));
    let (t301, t9999) = (at(301), at(9999));
    let (before_2h, before_30m, t0, t60, t90, t390) =
        (at(-7200), at(-1800), at(0), at(60), at(90), at(390));
    // Times with a fraction: samples write all three decimals (`.500`), scalars do not.
    let (t599_5, t90_12) = (format!("{}.5", at(599)), format!("{}.12", at(90)));
    let requests: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("series", vec![("match[]", "http_requests_total")]),
        ("series", vec![("match[]", "node_memory_bytes"), ("match[]", "{job=\"api\"}")]),
        // A range only the old series has samples in (Prometheus decides by chunk, not by
        // sample, so ranges cutting into a chunk could differ).
        ("series", vec![all, ("start", &before_2h), ("end", &before_30m)]),
        ("series", vec![all]),
        ("series", vec![("match[]", "nothing_here")]),
        ("series", vec![]),
        ("series", vec![("match[]", "{job=~\".*\"}")]),
        ("series", vec![("match[]", "up[5m]")]),
        ("series", vec![("match[]", "{job=\"a\"")]),
        ("series", vec![("match[]", "up"), ("start", "soon")]),
        ("labels", vec![]),
        ("labels", vec![("match[]", "node_memory_bytes")]),
        ("labels", vec![("match[]", "node_memory_bytes"), ("match[]", "escaped")]),
        ("label/job/values", vec![]),
        ("label/job/values", vec![("match[]", "http_requests_total")]),
        // Ten seconds at the end: Prometheus lists every series its head holds, whatever
        // their samples' times, and so every job here.
        ("label/job/values", vec![("start", &t590), ("end", &t600)]),
        ("labels", vec![("start", &t590), ("end", &t600)]),
        ("labels", vec![("start", &before_2h), ("end", &before_30m)]),
        ("label/job/values", vec![("start", &t301)]),
        ("labels", vec![("start", &t9999)]),
        ("label/__name__/values", vec![]),
        ("label/path/values", vec![]),
        ("label/nope/values", vec![]),
        ("label/%FF/values", vec![]),
        ("label/job/values", vec![("match[]", "{job!=\"\"")]),
        ("label/job/values", vec![("start", "soon")]),
        ("labels", vec![("end", "later")]),
        ("labels", vec![("match[]", "{a=~\"\"}")]),
        ("query", vec![("query", "http_requests_total"), ("time", &t600)]),
        // irate, not rate: Prometheus 3 multiplies rate()'s extrapolation factors in another
        // order than 2.42, which moves the last digit of some results.
        ("query", vec![("query", "sum by (job) (irate(http_requests_total[1m]))"), ("time", &t600)]),
        ("query", vec![("query", "node_memory_bytes"), ("time", &t500)]),
        ("query", vec![("query", "escaped"), ("time", &t60)]),
        // Away from the window's edges, where Prometheus 2 (closed) and 3 (left-open) differ.
        ("query", vec![("query", "http_requests_total{job=\"db\"}[1m]"), ("time", &t590)]),
        ("query", vec![("query", "1 + 1"), ("time", &t600)]),
        ("query", vec![("query", "http_requests_total"), ("time", &t599_5)]),
        ("query", vec![("query", "1 + 1"), ("time", &t599_5)]),
        ("query", vec![("query", "1e-7"), ("time", &t600)]),
        ("query", vec![("query", "vector(1e-7)"), ("time", &t600)]),
        ("query_range", vec![("query", "sum(http_requests_total)"), ("start", &t90_12), ("end", &t390), ("step", "30.01")]),
        ("query", vec![("query", "\"a<b\""), ("time", &t600)]),
        ("query", vec![("query", "up{")]),
        ("query", vec![("query", "sum(")]),
        ("query", vec![("query", "up"), ("time", "yesterday")]),
        ("query", vec![("query", "up"), ("timeout", "soon")]),
        ("query", vec![("query", "http_requests_total"), ("time", &t600), ("timeout", "30s")]),
        ("query_range", vec![("query", "sum(http_requests_total)"), ("start", &t0), ("end", &t600), ("step", "60")]),
        ("query_range", vec![("query", "irate(http_requests_total[1m])"), ("start", &t90), ("end", &t390), ("step", "100")]),
        ("query_range", vec![("query", "max_over_time(node_memory_bytes[2m])"), ("start", &t90), ("end", &t390), ("step", "100")]),
        ("query_range", vec![("query", "up"), ("start", "10"), ("end", "5"), ("step", "1")]),
        ("query_range", vec![("query", "up"), ("start", "0"), ("end", "10"), ("step", "0")]),
        ("query_range", vec![("query", "up"), ("start", "0"), ("end", "10"), ("step", "1"), ("timeout", "x")]),
        ("query_range", vec![("query", "up[5m]"), ("start", "0"), ("end", "10"), ("step", "1")]),
        ("query_range", vec![("query", "sum("), ("start", "0"), ("end", "10"), ("step", "1")]),
        ("query_range", vec![("query", "up"), ("start", "x"), ("end", "10"), ("step", "1")]),
        ("query_range", vec![("query", "up"), ("start", "0"), ("end", "100000"), ("step", "1")]),
        ("query_range", vec![("query", "up"), ("start", "0"), ("end", "10"), ("step", "soon")]),
        // Go's math functions to the last digit (Narthex ports them, see promql's gomath): over
        // these 86 steps the C library's answers (Rust's own for atanh) differ from Go's in 1 to 84
        // places each.
        ("query_range", vec![("query", "sin(vector(time()))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "cos(vector(time() / 1000))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "tan(vector(time() % 1000 / 100))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "exp(vector(time() % 1000 / 100 - 3))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "ln(vector(time() % 1000 / 7 + 0.5))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "log2(vector(time() % 1000 / 7 + 0.5))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "log10(vector(time() % 997 / 3))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "asin(vector(time() % 600 / 600))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "acos(vector(time() % 600 / 600))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "atan(vector(time() % 1000 / 37))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "sinh(vector(time() % 100 / 30))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "cosh(vector(time() % 100 / 30))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "tanh(vector(time() % 100 / 60))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "asinh(vector(time() % 100 / 30))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "acosh(vector(time() % 100 / 30 + 1))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "atanh(vector(time() % 1000 / 1e5))"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "vector(time() % 1000 / 10) ^ 1.7"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "1.0001 ^ vector(time() % 1000)"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("query_range", vec![("query", "vector(time() % 100 - 50) atan2 vector(3)"), ("start", &t0), ("end", &t600), ("step", "7")]),
        ("status/tsdb", vec![]),
        ("format_query", vec![("query", "sum(rate(http_requests_total{job=\"api\",a=\"b\"}[5m]))by(job)")]),
        ("format_query", vec![("query", "a+on(x)group_left(y)b offset 5m")]),
        ("format_query", vec![("query", "sum by (job) (rate(very_long_metric_name_number_one_for_testing{job=\"api\"}[5m]) * on(instance) group_left(version) very_long_metric_name_number_two{instance!=\"\"})")]),
        ("format_query", vec![("query", "label_replace(very_long_metric_name_number_one_for_testing_purposes{job=\"api\"}, \"dst\", \"$1\", \"src\", \"(.*)\")")]),
        ("format_query", vec![("query", "sum(")]),
        ("query_exemplars", vec![("query", "http_requests_total")]),
        ("query_exemplars", vec![("query", "rate(http_requests_total[5m])"), ("start", &t0), ("end", &t600)]),
        ("query_exemplars", vec![("query", "1 + 1")]),
        ("query_exemplars", vec![("query", "up{")]),
        ("query_exemplars", vec![("query", "up"), ("start", "soon")]),
        ("query_exemplars", vec![("query", "up"), ("end", "later")]),
        ("query_exemplars", vec![("query", "up"), ("start", &t600), ("end", &t0)]),
    ];
    let mut mismatches = Vec::new();
    // Admin endpoints without --web.enable-admin-api.
    for path in [
        "/api/v1/admin/tsdb/snapshot",
        "/api/v1/admin/tsdb/clean_tombstones",
        "/api/v1/admin/tsdb/delete_series?match[]=up",
    ] {
        let ours = http.post_form(&narthex, path, "");
        let theirs = http.post_form(&prometheus, path, "");
        if ours != theirs {
            mismatches.push(format!(
                "POST {path}\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
            ));
        }
    }
    for (endpoint, params) in &requests {
        let path = api(endpoint, params);
        let ours = ties_in_name_order(http.get(&narthex, &path));
        let theirs = ties_in_name_order(prometheus_3(endpoint, http.get(&prometheus, &path)));
        if ours != theirs {
            mismatches.push(format!(
                "GET {path}\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
            ));
        }
        // The same as a form post, where the endpoint takes one.
        if !endpoint.starts_with("label/") && !endpoint.starts_with("status/") {
            let ours = http.post_form(
                &narthex,
                &format!("/api/v1/{endpoint}"),
                &query_string(params),
            );
            let theirs = prometheus_3(
                endpoint,
                http.post_form(
                    &prometheus,
                    &format!("/api/v1/{endpoint}"),
                    &query_string(params),
                ),
            );
            if ours != theirs {
                mismatches.push(format!(
                    "POST {path}\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
                ));
            }
        }
    }

    // Remote write answers: the same status, and the same text where both are Prometheus's.
    let a_labels: Vec<(&str, &str)> = vec![
        ("__name__", "http_requests_total"),
        ("instance", "a:1"),
        ("job", "api"),
        ("method", "GET"),
    ];
    let out_of_order = snappy(&write_request(&[
        (vec![("__name__", "new_series")], vec![(T0 + 700_000, 1.0)]),
        (a_labels.clone(), vec![(T0 + 300_000, 1.0)]),
    ]));
    let ours = http.write(&narthex, out_of_order.clone());
    let theirs = http.write(&prometheus, out_of_order);
    if (ours.status, &ours.body) != (theirs.status, &theirs.body) {
        mismatches.push(format!(
            "write out of order\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
        ));
    }
    // Prometheus 2.42 says only "duplicate sample for timestamp"; Prometheus 3 adds the
    // timestamp, both values and the series (checked in remote_write_receiver).
    let duplicate = snappy(&write_request(&[(
        a_labels.clone(),
        vec![(T0 + 600_000, 1.0)],
    )]));
    let ours = http.write(&narthex, duplicate.clone());
    let theirs = http.write(&prometheus, duplicate);
    if ours.status != theirs.status || !ours.body.starts_with(theirs.body.trim_end()) {
        mismatches.push(format!(
            "write duplicate\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
        ));
    }
    for (what, body) in [
        ("not snappy", b"\xff\xff\xff\xff\xff\xff".to_vec()),
        ("not protobuf", snappy(b"\x0a\x05\x0a")),
    ] {
        let ours = http.write(&narthex, body.clone());
        let theirs = http.write(&prometheus, body);
        if ours.status != theirs.status {
            mismatches.push(format!(
                "write {what}\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
            ));
        }
    }
    // After all that, both hold the same series.
    let path = api("series", &[all]);
    let (ours, theirs) = (
        http.get(&narthex, &path),
        prometheus_3("series", http.get(&prometheus, &path)),
    );
    if ours != theirs {
        mismatches.push(format!(
            "GET {path} after the writes\n  narthex:    {ours:?}\n  prometheus: {theirs:?}"
        ));
    }

    assert!(
        mismatches.is_empty(),
        "{} answers differ from Prometheus's:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// A query small enough to be evaluated on the request's thread and the same query sent to the
/// blocking pool (a regex matcher is never counted in advance, so it always goes there) give
/// the same document, instant and range.
#[test]
fn inline_and_pooled_evaluations_answer_alike() {
    let (narthex, http) = loaded_narthex(&[]);
    let (t300, t600) = (at(300), at(600));
    let name = "http_requests_total";
    let by_regex = "{__name__=~\"http_requests_total\"}";
    let pairs = [
        (name.to_string(), by_regex.to_string()),
        (
            format!("sum by (job) (rate({name}[5m]))"),
            format!("sum by (job) (rate({by_regex}[5m]))"),
        ),
    ];
    for (inline, pooled) in &pairs {
        let instant = |query: &str| {
            http.get(
                &narthex,
                &api("query", &[("query", query), ("time", &t600)]),
            )
        };
        let range = |query: &str| {
            http.get(
                &narthex,
                &api(
                    "query_range",
                    &[
                        ("query", query),
                        ("start", &t300),
                        ("end", &t600),
                        ("step", "15"),
                    ],
                ),
            )
        };
        for ask in [&instant as &dyn Fn(&str) -> Reply, &range] {
            let (a, b) = (ask(inline), ask(pooled));
            assert_eq!(a.status, 200, "{}", a.body);
            assert!(a.body.contains("\"result\":[{"), "{}", a.body);
            assert_eq!(a.body, b.body, "{inline} and {pooled}");
        }
    }
}

/// Status, headers (lower-case names, sorted, without `date` and `content-length`) and body,
/// as written by the server: what a browser or client sees besides the JSON.
fn raw_exchange(server: &Server, method: &str, path: &str, origin: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = origin
        .map(|origin| ("Origin", origin))
        .into_iter()
        .collect();
    let (status, lines, body) = exchange(server, method, path, &headers);
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|line| !line.starts_with("content-length: "))
        .collect();
    let body = String::from_utf8(body).unwrap();
    format!("{status}\n{}\n\n{body}", lines.join("\n"))
}

/// Around the endpoints, the router answers as Prometheus 3.5.3 does. The expected texts are
/// what Prometheus 3.5.3 answered to the same requests, with `--web.cors.origin` set as here
/// (Debian's 2.42 answers `Access-Control-Allow-Origin: *` to every origin by default instead).
#[test]
fn cors_options_and_unknown_paths_answer_as_prometheus_3() {
    const CORS: [&str; 3] = [
        "access-control-allow-headers: Accept, Authorization, Content-Type, Origin",
        "access-control-allow-methods: GET, POST, OPTIONS",
        "access-control-expose-headers: Date",
    ];
    const JSON: [&str; 2] = ["content-type: application/json", "vary: Origin"];
    const PLAIN: [&str; 2] = [
        "content-type: text/plain; charset=utf-8",
        "x-content-type-options: nosniff",
    ];
    let headers = |groups: &[&[&str]]| {
        let mut lines: Vec<&str> = groups
            .iter()
            .flat_map(|group| group.iter().copied())
            .collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;

    // The default, every origin: the one asking is allowed by name.
    let open = Server::narthex(&[]);
    assert_eq!(
        raw_exchange(
            &open,
            "GET",
            "/api/v1/query?query=1&time=1",
            Some("http://grafana.example")
        ),
        format!(
            "200\n{}\n\n{scalar}",
            headers(&[
                &CORS,
                &JSON,
                &["access-control-allow-origin: http://grafana.example"]
            ])
        )
    );

    let only = Server::narthex(&[r"--web.cors.origin=https://only\.example"]);
    let allowed = ["access-control-allow-origin: https://only.example"];
    let not_found = format!("404\n{}\n\n404 page not found\n", headers(&[&PLAIN]));
    let cases: Vec<(&str, &str, Option<&str>, String)> = vec![
        (
            "GET",
            "/api/v1/query?query=1&time=1",
            Some("https://only.example"),
            format!("200\n{}\n\n{scalar}", headers(&[&CORS, &JSON, &allowed])),
        ),
        // An origin the pattern does not match all of is not allowed.
        (
            "GET",
            "/api/v1/query?query=1&time=1",
            Some("https://only.example.evil"),
            format!("200\n{}\n\n{scalar}", headers(&[&CORS, &JSON])),
        ),
        (
            "GET",
            "/api/v1/query?query=1&time=1",
            None,
            format!("200\n{}\n\n{scalar}", headers(&[&JSON])),
        ),
        // The API's errors get the headers too.
        (
            "GET",
            "/api/v1/query?query=1%20(",
            Some("https://only.example"),
            format!(
                "400\n{}\n\n{}",
                headers(&[&CORS, &JSON, &allowed]),
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:3: parse error: unexpected \"(\""}"#
            ),
        ),
        // A preflight, on any path under /api/v1/.
        (
            "OPTIONS",
            "/api/v1/query",
            Some("https://only.example"),
            format!(
                "204\n{}\n\n",
                headers(&[&CORS, &allowed, &["vary: Origin"]])
            ),
        ),
        (
            "OPTIONS",
            "/api/v1/nope",
            None,
            "204\nvary: Origin\n\n".to_string(),
        ),
        // Methods an endpoint does not take.
        (
            "DELETE",
            "/api/v1/query",
            None,
            format!(
                "405\n{}\n\nMethod Not Allowed\n",
                headers(&[&PLAIN, &["allow: GET, OPTIONS, POST"]])
            ),
        ),
        (
            "POST",
            "/api/v1/label/job/values",
            None,
            format!(
                "405\n{}\n\nMethod Not Allowed\n",
                headers(&[&PLAIN, &["allow: GET, OPTIONS"]])
            ),
        ),
        (
            "GET",
            "/api/v1/write",
            None,
            format!(
                "405\n{}\n\nMethod Not Allowed\n",
                headers(&[&PLAIN, &["allow: OPTIONS, POST"]])
            ),
        ),
        // Paths no endpoint serves, with no CORS headers, and the API's root.
        (
            "GET",
            "/api/v1/nope",
            Some("https://only.example"),
            not_found.clone(),
        ),
        ("GET", "/api/v1/", None, not_found.clone()),
        ("GET", "/api/v2/query", None, not_found.clone()),
        (
            "GET",
            "/api/v1?x=1",
            None,
            "301\ncontent-type: text/html; charset=utf-8\nlocation: /api/v1/?x=1\n\n\
             <a href=\"/api/v1/?x=1\">Moved Permanently</a>.\n\n"
                .to_string(),
        ),
        (
            "POST",
            "/api/v1",
            None,
            "301\nlocation: /api/v1/\n\n".to_string(),
        ),
    ];
    for (method, path, origin, expected) in cases {
        assert_eq!(
            raw_exchange(&only, method, path, origin),
            expected,
            "{method} {path} from {origin:?}"
        );
    }
    // The remote write receiver is outside Prometheus's API wrapper: no CORS headers.
    let write = raw_exchange(&only, "POST", "/api/v1/write", Some("https://only.example"));
    assert!(write.starts_with("400\n"), "{write}");
    assert!(
        !write.contains("vary") && !write.contains("access-control"),
        "{write}"
    );
}

/// One exchange as the client sends it: status, headers (lower-case names, sorted, without
/// `date`) and the body's bytes as they came, with only the request headers given (no
/// `Accept-Encoding` unless given), nothing decompressed and no redirect followed.
fn exchange(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<String>, Vec<u8>) {
    let http = Http::new();
    let client = reqwest::Client::builder()
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    http.runtime.block_on(async {
        let response = request.send().await.unwrap();
        let mut headers: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str() != "date")
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect();
        headers.sort();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap().to_vec();
        (status, headers, body)
    })
}

/// [`exchange`] with `Accept-Encoding` as given (none when `None`).
fn undecoded_exchange(
    server: &Server,
    method: &str,
    path: &str,
    accept_encoding: Option<&str>,
) -> (u16, Vec<String>, Vec<u8>) {
    let headers: Vec<(&str, &str)> = accept_encoding
        .map(|accept| ("Accept-Encoding", accept))
        .into_iter()
        .collect();
    exchange(server, method, path, &headers)
}

/// Asked for it, the API compresses its answers, errors included, as Prometheus 3.5.3 does
/// (Grafana asks): the first of `gzip` and `deflate` in `Accept-Encoding`, each compared whole.
/// The router's own answers and the remote write receiver stay as they are, and `HEAD` under
/// `/api/v1/` is a method no endpoint takes. Expected headers are Prometheus 3.5.3's.
#[test]
fn api_compresses_answers_when_asked_and_refuses_head_as_prometheus_3() {
    use std::io::Read;
    let narthex = Server::narthex(&[]);
    let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
    let bad = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:3: parse error: unexpected \"(\""}"#;
    let gunzip = |bytes: &[u8]| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("a gzip stream");
        text
    };
    let unzlib = |bytes: &[u8]| {
        let mut text = String::new();
        flate2::read::ZlibDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("a zlib stream");
        text
    };
    let json_headers = |encoding: &str, length: usize| {
        let mut headers = vec![
            format!("content-encoding: {encoding}"),
            format!("content-length: {length}"),
            "content-type: application/json".to_string(),
            "vary: Origin".to_string(),
        ];
        headers.sort();
        headers
    };

    for (accept, encoding) in [
        ("gzip", "gzip"),
        ("br, gzip", "gzip"),
        ("deflate, gzip", "deflate"),
        (" deflate ", "deflate"),
    ] {
        let (status, headers, body) = undecoded_exchange(
            &narthex,
            "GET",
            "/api/v1/query?query=1&time=1",
            Some(accept),
        );
        assert_eq!(status, 200, "{accept}");
        assert_eq!(headers, json_headers(encoding, body.len()), "{accept}");
        let text = if encoding == "gzip" {
            gunzip(&body)
        } else {
            unzlib(&body)
        };
        assert_eq!(text, scalar, "{accept}");
    }
    // Errors of the API are compressed too.
    let (status, headers, body) =
        undecoded_exchange(&narthex, "GET", "/api/v1/query?query=1%20(", Some("gzip"));
    assert_eq!(status, 400);
    assert_eq!(headers, json_headers("gzip", body.len()));
    assert_eq!(gunzip(&body), bad);

    // A large answer (compressed on the blocking pool) comes back whole.
    let large = "/api/v1/query_range?query=vector(1)&start=0&end=9999&step=1";
    let (status, _, plain_body) = undecoded_exchange(&narthex, "GET", large, None);
    let (gzip_status, headers, body) = undecoded_exchange(&narthex, "GET", large, Some("gzip"));
    assert_eq!((status, gzip_status), (200, 200));
    assert!(plain_body.len() > 100_000, "{}", plain_body.len());
    assert_eq!(headers, json_headers("gzip", body.len()));
    assert!(body.len() < plain_body.len() / 4, "{}", body.len());
    assert_eq!(gunzip(&body).into_bytes(), plain_body);

    // Not asked (a parameter makes the token another one, as in Go), or not the API's answer.
    for accept in [None, Some("br"), Some("gzip;q=1.0"), Some("identity")] {
        let (status, headers, body) =
            undecoded_exchange(&narthex, "GET", "/api/v1/query?query=1&time=1", accept);
        assert_eq!(status, 200);
        assert_eq!(
            headers,
            [
                format!("content-length: {}", scalar.len()),
                "content-type: application/json".to_string(),
                "vary: Origin".to_string(),
            ],
            "{accept:?}"
        );
        assert_eq!(String::from_utf8(body).unwrap(), scalar, "{accept:?}");
    }
    let plain = |status: u16, text: &str, allow: Option<&str>| {
        let mut headers = vec![
            format!("content-length: {}", text.len()),
            "content-type: text/plain; charset=utf-8".to_string(),
            "x-content-type-options: nosniff".to_string(),
        ];
        if let Some(allow) = allow {
            headers.push(format!("allow: {allow}"));
        }
        headers.sort();
        (status, headers)
    };
    for (method, path, status, text, allow) in [
        ("GET", "/api/v1/nope", 404, "404 page not found\n", None),
        (
            "GET",
            "/api/v1/write",
            405,
            "Method Not Allowed\n",
            Some("OPTIONS, POST"),
        ),
    ] {
        let (got_status, headers, body) = undecoded_exchange(&narthex, method, path, Some("gzip"));
        assert_eq!(
            (got_status, headers),
            plain(status, text, allow),
            "{method} {path}"
        );
        assert_eq!(String::from_utf8(body).unwrap(), text, "{method} {path}");
    }

    // The remote write receiver is outside the API's wrapper: its answer (to an empty body,
    // a 400) goes as it is.
    let (status, headers, body) =
        undecoded_exchange(&narthex, "POST", "/api/v1/write", Some("gzip"));
    assert_eq!(status, 400);
    assert!(
        !headers.iter().any(|h| h.starts_with("content-encoding")),
        "{headers:?}"
    );
    let text = String::from_utf8(body).expect("an uncompressed text");
    assert!(!text.is_empty());
    // A preflight names the encoding on its empty answer, as Go's wrapper does.
    let (status, headers, body) =
        undecoded_exchange(&narthex, "OPTIONS", "/api/v1/query", Some("gzip"));
    assert_eq!(
        (status, headers, body.len()),
        (
            204,
            vec![
                "content-encoding: gzip".to_string(),
                "vary: Origin".to_string()
            ],
            0
        )
    );

    // HEAD: refused under /api/v1/ with the path's own methods (no body), 404 where no
    // endpoint is, and taken by the health checks.
    for (path, allow) in [
        ("/api/v1/query?query=1", "GET, OPTIONS, POST"),
        ("/api/v1/label/job/values", "GET, OPTIONS"),
        ("/api/v1/write", "OPTIONS, POST"),
    ] {
        let (status, headers, body) = undecoded_exchange(&narthex, "HEAD", path, Some("gzip"));
        assert_eq!(
            (status, headers),
            plain(405, "Method Not Allowed\n", Some(allow)),
            "HEAD {path}"
        );
        assert!(body.is_empty(), "HEAD {path}");
    }
    let (status, headers, _) = undecoded_exchange(&narthex, "HEAD", "/api/v1/nope", None);
    assert_eq!((status, headers), plain(404, "404 page not found\n", None));
    let (status, _, body) = undecoded_exchange(&narthex, "HEAD", "/-/healthy", None);
    assert_eq!((status, body.len()), (200, 0));
}

/// `lookback_delta` narrows or widens how far back an instant selector looks, for one query,
/// as in Prometheus 3; zero or less means `--query.lookback-delta`. Messages are Prometheus
/// 3.5.3's.
#[test]
fn lookback_delta_parameter() {
    let narthex = Server::narthex(&[]);
    let http = Http::new();
    let reply = http.write(
        &narthex,
        snappy(&write_request(&[(
            vec![("__name__", "lonely")],
            vec![(T0, 9.0)],
        )])),
    );
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    let found = success(&format!(
        r#"{{"resultType":"vector","result":[{{"metric":{{"__name__":"lonely"}},"value":[{},"9"]}}]}}"#,
        at(20)
    ));
    let empty = success(r#"{"resultType":"vector","result":[]}"#);
    for (lookback, want) in [
        (None, found.clone()),
        (Some("10s"), empty.clone()),
        (Some("10"), empty.clone()),
        (Some("30s"), found.clone()),
        (Some("0"), found.clone()),
        (Some("-1"), found.clone()),
    ] {
        let mut params = vec![("query", "lonely"), ("time", &*at(20).leak())];
        if let Some(lookback) = lookback {
            params.push(("lookback_delta", lookback));
        }
        assert_json(http.get(&narthex, &api("query", &params)), 200, &want);
    }
    // A form body whose media type is written in other letter case is still a form, as in Go.
    let reply = http.send(
        http.client
            .post(format!("{}/api/v1/query", narthex.base))
            .header(
                "Content-Type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            )
            .body(format!("query=lonely&time={}&lookback_delta=30s", at(20))),
    );
    assert_json(reply, 200, &found);
    // With the server's own delta below the sample's age, the parameter widens it.
    let short = Server::narthex(&["--query.lookback-delta=10s"]);
    let reply = http.write(
        &short,
        snappy(&write_request(&[(
            vec![("__name__", "lonely")],
            vec![(T0, 9.0)],
        )])),
    );
    assert_eq!(reply.status, 204);
    let range = |lookback: &str| {
        http.get(
            &short,
            &api(
                "query_range",
                &[
                    ("query", "lonely"),
                    ("start", &at(20)),
                    ("end", &at(20)),
                    ("step", "1"),
                    ("lookback_delta", lookback),
                ],
            ),
        )
    };
    assert_json(
        range("1m"),
        200,
        &success(&format!(
            r#"{{"resultType":"matrix","result":[{{"metric":{{"__name__":"lonely"}},"values":[[{},"9"]]}}]}}"#,
            at(20)
        )),
    );
    assert_json(
        range(""),
        200,
        &success(r#"{"resultType":"matrix","result":[]}"#),
    );
    assert_json(
        range("xx"),
        400,
        &bad_data("error parsing lookback delta duration: cannot parse \"xx\" to a valid duration"),
    );
    assert_json(
        http.get(
            &narthex,
            &api("query", &[("query", "lonely"), ("lookback_delta", "1e30")]),
        ),
        400,
        &bad_data(
            "error parsing lookback delta duration: cannot parse \"1e30\" to a valid duration. It overflows int64",
        ),
    );
}

/// Reads one answer (head and a `Content-Length` body) from `stream`, as sent.
fn read_answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some((_, _, end)) = answer_extent(&bytes).filter(|&(_, _, end)| bytes.len() >= end) {
            assert_eq!(bytes.len(), end, "more than one answer");
            return String::from_utf8(bytes).unwrap();
        }
        let read = stream.read(&mut buffer).unwrap();
        assert!(
            read > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buffer[..read]);
    }
}

/// A connection's first plain `GET` of `query` or `query_range` is answered without the router
/// and its middleware (`api::direct_query`, from the acceptor thread; an instant query
/// evaluated at once from its query string alone, `api::plain_instant_query`); the next
/// requests of a keep-alive connection go through hyper and the router. Both ways give the
/// same bytes, but for the `Date` value, kept alive or closed: successes of every result
/// type, annotations, the `limit` warning, and each kind of error.
#[test]
fn first_and_later_requests_of_a_connection_are_answered_alike() {
    use std::io::Write;
    let (narthex, http) = loaded_narthex(&[]);
    let (t300, t600) = (at(300), at(600));
    let instant = |query: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("query", query), ("time", t600.as_str())];
        params.extend_from_slice(extra);
        api("query", &params)
    };
    let range = |query: &str, step: &str| {
        api(
            "query_range",
            &[
                ("query", query),
                ("start", &t300),
                ("end", &t600),
                ("step", step),
            ],
        )
    };
    let targets = [
        instant("sum by (job) (rate(http_requests_total[5m]))", &[]),
        instant("absent(nonexistent_metric)", &[]),
        instant("1 + 1", &[]),
        instant("\"text\"", &[]),
        instant("http_requests_total[1m]", &[]),
        instant("http_requests_total", &[("limit", "1")]),
        instant("quantile(2, http_requests_total)", &[]),
        instant("rate(node_memory_bytes[5m])", &[]),
        instant("http_requests_total", &[("lookback_delta", "1s")]),
        instant("sum(", &[]),
        instant("up", &[("time", "yesterday")]),
        instant("up", &[("timeout", "-1s")]),
        instant("http_requests_total + on() http_requests_total", &[]),
        api("query", &[]),
        range("sum by (job) (rate(http_requests_total[5m]))", "15"),
        range("http_requests_total", "0"),
        range("\"text\"", "15"),
        range("http_requests_total", "0.001"),
    ];
    let counter = |name: &str| -> u64 {
        let metrics = http.get(&narthex, "/metrics").body;
        let line = metrics
            .lines()
            .find(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .unwrap_or_else(|| panic!("no {name} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let direct_answers = || counter("narthex_http_direct_query_answers_total");
    let plain_answers = || counter("narthex_http_plain_query_answers_total");
    let (before, plain_before) = (direct_answers(), plain_answers());
    let address = narthex.base.trim_start_matches("http://");
    for target in &targets {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let first = read_answer(&mut stream);
        stream.write_all(request.as_bytes()).unwrap();
        let later = read_answer(&mut stream);
        let closing = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(closing.as_bytes()).unwrap();
        let later_closed = read_to_close(&mut stream);
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream.write_all(closing.as_bytes()).unwrap();
        let first_closed = read_to_close(&mut stream);
        let undated = |answer: &str| -> String {
            answer
                .split("\r\n")
                .map(|line| {
                    if line.starts_with("date: ") {
                        "date: (now)"
                    } else {
                        line
                    }
                })
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        assert_eq!(undated(&first), undated(&later), "{target}");
        assert!(first.contains("\r\nvary: Origin\r\n"), "{target}: {first}");
        assert_eq!(undated(&first_closed), undated(&later_closed), "{target}");
        assert!(
            first_closed.contains("\r\nconnection: close\r\n"),
            "{target}: {first_closed}"
        );
    }
    // Every first request was answered directly, none of the later ones; the instant queries
    // (all small, in memory) from their query string alone.
    assert_eq!(direct_answers() - before, 2 * targets.len() as u64);
    let instant_targets = targets
        .iter()
        .filter(|t| !t.starts_with("/api/v1/query_range"))
        .count();
    assert_eq!(plain_answers() - plain_before, 2 * instant_targets as u64);
}

/// Reads an answer until the server closes the connection.
fn read_to_close(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8(answer).unwrap()
}

/// A `multipart/form-data` body of `parts` (name, file name, value), as `curl -F` sends one.
fn multipart_body(boundary: &str, parts: &[(&str, Option<&str>, &str)]) -> String {
    let mut body = String::new();
    for (name, file_name, value) in parts {
        body.push_str(&format!("--{boundary}\r\n"));
        match file_name {
            Some(file) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        body.push_str(value);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

/// `curl -F query=up host/api/v1/query` sends a multipart form, which Go's `FormValue` reads
/// (after the URL's values, file parts left out, nothing from a malformed body), while
/// `series`, `delete_series` and `rules` parse the form themselves first and never see it, and
/// `targets` reads only the URL. Both servers get the same requests and must give the same
/// answers.
#[test]
fn multipart_forms_are_read_as_prometheus_reads_them() {
    let Some((prometheus, narthex, http)) =
        both_loaded("multipart_forms_are_read_as_prometheus_reads_them")
    else {
        return;
    };
    let t600 = at(600);
    let boundary = "------------------------d74496d66958873e";
    let form = |parts: &[(&str, Option<&str>, &str)]| multipart_body(boundary, parts);
    let requests: Vec<(&str, String, String)> = vec![
        (
            "POST",
            api("query", &[]),
            form(&[
                ("query", None, "http_requests_total"),
                ("time", None, &t600),
            ]),
        ),
        (
            "GET",
            api("query", &[]),
            form(&[
                ("query", None, "sum(http_requests_total)"),
                ("time", None, &t600),
            ]),
        ),
        // The URL's value first.
        (
            "POST",
            api("query", &[("query", "sum(http_requests_total)")]),
            form(&[
                ("query", None, "http_requests_total"),
                ("time", None, &t600),
            ]),
        ),
        // A file part is not a value (the query is then at the current time, years after
        // the data).
        (
            "POST",
            api("query", &[("query", "sum(http_requests_total)")]),
            form(&[("time", Some("t.txt"), &t600)]),
        ),
        // A body cut short gives no values at all.
        (
            "POST",
            api("query", &[("query", "sum(http_requests_total)")]),
            form(&[("time", None, &t600)])
                .trim_end_matches(&format!("--{boundary}--\r\n"))
                .to_string(),
        ),
        (
            "POST",
            api("query_range", &[]),
            form(&[
                ("query", None, "sum by (job) (http_requests_total)"),
                ("start", None, &at(300)),
                ("end", None, &t600),
                ("step", None, "60"),
            ]),
        ),
        (
            "POST",
            api("labels", &[]),
            form(&[("match[]", None, "node_memory_bytes")]),
        ),
        (
            "POST",
            api("label/job/values", &[]),
            form(&[("match[]", None, "node_memory_bytes")]),
        ),
        (
            "POST",
            api("series", &[]),
            form(&[("match[]", None, "node_memory_bytes")]),
        ),
        (
            "POST",
            api("series", &[("match[]", "node_memory_bytes")]),
            form(&[("match[]", None, "http_requests_total")]),
        ),
        (
            "POST",
            api("format_query", &[]),
            form(&[("query", None, "sum( up )")]),
        ),
        // `rules` parses the form first: an unknown type in the body changes nothing.
        ("GET", api("rules", &[]), form(&[("type", None, "unknown")])),
    ];
    for (method, target, body) in &requests {
        let ask = |server: &Server| {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            http.send(
                http.client
                    .request(method, format!("{}{target}", server.base))
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body.clone()),
            )
        };
        let (ours, theirs) = (ask(&narthex), ask(&prometheus));
        assert_eq!(
            (ours.status, &ours.body),
            (theirs.status, &theirs.body),
            "{method} {target}"
        );
    }
    // `targets` reads only the URL: an unknown state in the body changes nothing (checked on
    // Narthex alone, as 2.42's answer lacks Prometheus 3's `droppedTargetCounts`).
    let targets = api("targets", &[]);
    let with_body = http.send(
        http.client
            .get(format!("{}{targets}", narthex.base))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form(&[("state", None, "unknown")])),
    );
    assert_eq!(with_body.body, http.get(&narthex, &targets).body);
}

/// `rules`' `type` and `exclude_alerts` without case, as Prometheus 3.5.3 reads them (the
/// expected answers are 3.5.3's to the same requests; Debian's 2.42 has no
/// `exclude_alerts`).
#[test]
fn rules_parameters_as_prometheus_3() {
    let narthex = Server::narthex(&[]);
    let http = Http::new();
    let check = |params: &[(&str, &str)], status: u16, body: &str| {
        let reply = http.get(&narthex, &api("rules", params));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (status, body),
            "{params:?}"
        );
    };
    let empty = r#"{"status":"success","data":{"groups":[]}}"#;
    check(&[("type", "ALERT")], 200, empty);
    check(&[("type", "Record"), ("exclude_alerts", "F")], 200, empty);
    check(&[("exclude_alerts", "T")], 200, empty);
    check(&[("exclude_alerts", "TRUE")], 200, empty);
    check(
        &[("type", "X")],
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"type\": not supported value \"x\""}"#,
    );
    check(
        &[("exclude_alerts", "X")],
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"exclude_alerts\": error converting exclude_alerts: strconv.ParseBool: parsing \"x\": invalid syntax"}"#,
    );
}
