//! Loading from disk: `scrape_config_files`, paths relative to the file that names them, and
//! Prometheus sections Narthex keeps without acting on them.

use narthex_config::Config;

#[test]
fn scrape_config_files_add_jobs_with_paths_relative_to_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(
        jobs.join("a.yml"),
        "scrape_configs:\n - job_name: from-a\n   file_sd_configs: [{files: ['targets/*.json']}]\n",
    )
    .unwrap();
    std::fs::write(
        jobs.join("b.yml"),
        "scrape_configs:\n - job_name: from-b\n   bearer_token_file: token\n",
    )
    .unwrap();
    let main = dir.path().join("prometheus.yml");
    std::fs::write(
        &main,
        "scrape_config_files: ['jobs/*.yml']\nrule_files: ['rules/*.yml']\nscrape_configs:\n - job_name: main\n   tls_config: {ca_file: ca.pem}\n",
    )
    .unwrap();
    let config = Config::load(&main).unwrap();
    let names: Vec<_> = config
        .scrape_configs
        .iter()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(names, ["main", "from-a", "from-b"]);
    let base = dir.path().display().to_string();
    assert_eq!(
        config.scrape_configs[0]
            .tls_config
            .as_ref()
            .unwrap()
            .ca_file,
        Some(format!("{base}/ca.pem"))
    );
    assert_eq!(
        config.scrape_configs[1].file_sd_configs[0].files,
        [format!("{base}/jobs/targets/*.json")]
    );
    assert_eq!(
        config.scrape_configs[2].bearer_token_file,
        Some(format!("{base}/jobs/token"))
    );
    assert_eq!(config.rule_files, [format!("{base}/rules/*.yml")]);
    // Defaults apply to the added jobs as to the others.
    assert_eq!(
        config.scrape_configs[2].interval(),
        config.global.scrape_interval
    );

    // Printed, the file names its job files instead of repeating their jobs, so it loads again.
    let yaml = config.to_yaml();
    assert!(
        !yaml.contains("from-a") && yaml.contains("jobs/*.yml"),
        "{yaml}"
    );

    // A job name used twice across files is refused, naming it; a bad file is named.
    std::fs::write(jobs.join("c.yml"), "scrape_configs:\n - job_name: main\n").unwrap();
    let err = Config::load(&main).unwrap_err().to_string();
    assert!(
        err.contains("multiple scrape configs with job name \"main\""),
        "{err}"
    );
    std::fs::write(jobs.join("c.yml"), "scrape_configs:\n - job_nme: x\n").unwrap();
    let err = Config::load(&main).unwrap_err().to_string();
    assert!(
        err.contains("c.yml") && err.contains("unknown field `job_nme`"),
        "{err}"
    );
}

#[test]
fn prometheus_sections_not_acted_on_load_and_print_without_secrets() {
    let config = Config::parse(
        "remote_write:\n - url: http://mimir/api/v1/push\n   basic_auth: {username: u, password: hunter2}\nstorage:\n  tsdb: {out_of_order_time_window: 10m}\n",
        "x",
    )
    .unwrap();
    assert_eq!(config.sections_not_acted_on(), ["remote_write", "storage"]);
    let yaml = config.to_yaml();
    assert!(yaml.contains("http://mimir/api/v1/push"), "{yaml}");
    assert!(
        yaml.contains("password: <secret>") && !yaml.contains("hunter2"),
        "{yaml}"
    );
    // Unknown top-level keys are still refused.
    let err = Config::parse("remote_writes: []\n", "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `remote_writes`"), "{err}");
}
