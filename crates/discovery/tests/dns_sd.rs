//! DNS-based discovery against a small DNS server the test runs on 127.0.0.1 (UDP), answering
//! from a table the test can change: A, AAAA, SRV, MX and NS answers, names that do not exist,
//! and server failures that must keep the previous targets.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{addresses, wait_for, wait_for_metric};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, NS, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use narthex_config::discovery::DnsSdConfig;
use narthex_discovery::{
    Discovery, DiscoveryOptions, DnsServers, SdConfigs, SdMetrics, TargetGroup,
};
use tokio::net::UdpSocket;

/// What the server answers for a name: records by type, or a failure for every type.
#[derive(Clone)]
enum Entry {
    Records(Vec<RData>),
    ServerFailure,
}

type Zone = Arc<Mutex<HashMap<(String, RecordType), Entry>>>;

/// Answers every query from `zone`; a name absent from it gets NXDOMAIN.
async fn dns_server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            let Ok(request) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            response.metadata.authoritative = true;
            let mut code = ResponseCode::NXDomain;
            for query in &request.queries {
                response.add_query(query.clone());
                let name = query.name().to_ascii().to_lowercase();
                let zone = zone.lock().unwrap();
                let known = zone.keys().any(|(n, _)| *n == name);
                match zone.get(&(name, query.query_type())) {
                    Some(Entry::Records(records)) => {
                        code = ResponseCode::NoError;
                        for rdata in records {
                            response.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                rdata.clone(),
                            ));
                        }
                    }
                    Some(Entry::ServerFailure) => code = ResponseCode::ServFail,
                    // The name exists with other types: an empty answer, not NXDOMAIN.
                    None if known => code = ResponseCode::NoError,
                    None => {}
                }
            }
            response.metadata.response_code = code;
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    address
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn sd(yaml: &str) -> DnsSdConfig {
    serde_yaml::from_str(yaml).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The six labels Prometheus sets on every DNS target, empty where they do not apply.
fn target(address: &str, dns_name: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut target = labels(&[
        ("__address__", address),
        ("__meta_dns_name", dns_name),
        ("__meta_dns_srv_record_target", ""),
        ("__meta_dns_srv_record_port", ""),
        ("__meta_dns_mx_record_target", ""),
        ("__meta_dns_ns_record_target", ""),
    ]);
    target.extend(labels(extra));
    target
}

fn group<'a>(groups: &'a [TargetGroup], source: &str) -> &'a TargetGroup {
    groups
        .iter()
        .find(|g| g.source == source)
        .unwrap_or_else(|| panic!("no group {source} in {groups:#?}"))
}

#[tokio::test]
async fn a_aaaa_srv_mx_ns_answers_become_targets_with_prometheus_labels() {
    let zone: Zone = Arc::default();
    {
        let mut zone = zone.lock().unwrap();
        zone.insert(
            ("web.example.org.".into(), RecordType::A),
            Entry::Records(vec![
                RData::A(A::new(192, 0, 2, 10)),
                RData::A(A::new(192, 0, 2, 11)),
            ]),
        );
        zone.insert(
            ("web.example.org.".into(), RecordType::AAAA),
            Entry::Records(vec![RData::AAAA(AAAA::new(
                0x2001, 0xdb8, 0, 0, 0, 0, 0, 1,
            ))]),
        );
        zone.insert(
            ("_node._tcp.example.org.".into(), RecordType::SRV),
            Entry::Records(vec![
                RData::SRV(SRV::new(10, 5, 9100, name("node1.example.org."))),
                RData::SRV(SRV::new(10, 5, 9101, name("node2.example.org."))),
            ]),
        );
        zone.insert(
            ("example.org.".into(), RecordType::MX),
            Entry::Records(vec![RData::MX(MX::new(10, name("mail.example.org.")))]),
        );
        zone.insert(
            ("example.org.".into(), RecordType::NS),
            Entry::Records(vec![RData::NS(NS(name("ns1.example.org.")))]),
        );
    }
    let server = dns_server(zone.clone()).await;
    let metrics = Arc::new(SdMetrics::default());
    let configs = [
        sd("names: [web.example.org]\ntype: A\nport: 9100\n"),
        sd("names: [web.example.org.]\ntype: AAAA\nport: 9100\n"),
        sd("names: [_node._tcp.example.org, missing.example.org]\n"),
        sd("names: [example.org]\ntype: MX\nport: 25\n"),
        sd("names: [example.org]\ntype: NS\nport: 53\n"),
    ];
    let handle = Discovery::start(
        SdConfigs {
            dns_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions {
            dns_servers: DnsServers::Nameservers(vec![server]),
            metrics: metrics.clone(),
            ..DiscoveryOptions::default()
        },
    );
    let mut rx = handle.subscribe();
    let groups = wait_for(&mut rx, "all lookups", |g| g.len() == 6).await;

    assert_eq!(
        group(&groups, "web.example.org").targets,
        [
            target("192.0.2.10:9100", "web.example.org", &[]),
            target("192.0.2.11:9100", "web.example.org", &[]),
        ]
    );
    assert_eq!(
        group(&groups, "web.example.org.").targets,
        [target("[2001:db8::1]:9100", "web.example.org.", &[])]
    );
    assert_eq!(
        group(&groups, "_node._tcp.example.org").targets,
        [
            target(
                "node1.example.org:9100",
                "_node._tcp.example.org",
                &[
                    ("__meta_dns_srv_record_target", "node1.example.org."),
                    ("__meta_dns_srv_record_port", "9100"),
                ],
            ),
            target(
                "node2.example.org:9101",
                "_node._tcp.example.org",
                &[
                    ("__meta_dns_srv_record_target", "node2.example.org."),
                    ("__meta_dns_srv_record_port", "9101"),
                ],
            ),
        ]
    );
    // NXDOMAIN is an answer: an empty group, not a failure.
    assert!(group(&groups, "missing.example.org").targets.is_empty());
    let mx_and_ns: Vec<_> = groups
        .iter()
        .filter(|g| g.source == "example.org")
        .collect();
    assert_eq!(
        mx_and_ns[0].targets,
        [target(
            "mail.example.org:25",
            "example.org",
            &[("__meta_dns_mx_record_target", "mail.example.org.")]
        )]
    );
    assert_eq!(
        mx_and_ns[1].targets,
        [target(
            "ns1.example.org:53",
            "example.org",
            &[("__meta_dns_ns_record_target", "ns1.example.org.")]
        )]
    );
    assert!(groups.iter().all(|g| g.labels.is_empty()));
    assert_eq!(metrics.value("prometheus_sd_dns_lookups_total"), Some(6.0));
    assert_eq!(
        metrics.value("prometheus_sd_dns_lookup_failures_total"),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_failing_lookup_keeps_the_previous_targets() {
    let zone: Zone = Arc::default();
    let key = ("_app._tcp.example.org.".to_string(), RecordType::SRV);
    zone.lock().unwrap().insert(
        key.clone(),
        Entry::Records(vec![RData::SRV(SRV::new(
            0,
            0,
            8080,
            name("app1.example.org."),
        ))]),
    );
    let server = dns_server(zone.clone()).await;
    let metrics = Arc::new(SdMetrics::default());
    let configs = [sd(
        "names: [_app._tcp.example.org]\nrefresh_interval: 100ms\n",
    )];
    let handle = Discovery::start(
        SdConfigs {
            dns_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions {
            dns_servers: DnsServers::Nameservers(vec![server]),
            metrics: metrics.clone(),
            ..DiscoveryOptions::default()
        },
    );
    let mut rx = handle.subscribe();
    wait_for(&mut rx, "the first answer", |g| {
        addresses(g) == ["app1.example.org:8080"]
    })
    .await;

    zone.lock()
        .unwrap()
        .insert(key.clone(), Entry::ServerFailure);
    wait_for_metric(&metrics, "prometheus_sd_dns_lookup_failures_total", 2.0).await;
    assert_eq!(addresses(&handle.current()), ["app1.example.org:8080"]);

    // Answers again, with other records: they replace the old ones.
    zone.lock().unwrap().insert(
        key.clone(),
        Entry::Records(vec![RData::SRV(SRV::new(
            0,
            0,
            8081,
            name("app2.example.org."),
        ))]),
    );
    wait_for(&mut rx, "the new answer", |g| {
        addresses(g) == ["app2.example.org:8081"]
    })
    .await;

    // The name disappears (NXDOMAIN): its targets go.
    zone.lock().unwrap().remove(&key);
    let groups = wait_for(&mut rx, "the name to vanish", |g| addresses(g).is_empty()).await;
    assert_eq!(groups.len(), 1, "the name keeps an empty group");
}
