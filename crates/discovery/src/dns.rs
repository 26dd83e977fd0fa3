//! DNS-based discovery, as Prometheus's `discovery/dns`: every `refresh_interval` each name is
//! looked up (SRV, A, AAAA, MX or NS) and its answers become one group whose source is the name.
//!
//! As in Prometheus, a name that does not exist or has no records of the type yields an empty
//! group, while a lookup that fails (timeout, SERVFAIL) keeps the name's previous group. The
//! resolver does not consult `/etc/hosts` and keeps no cache between refreshes, so each refresh
//! asks the servers, as Prometheus's own lookups do.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use narthex_config::discovery::{DnsRecordType, DnsSdConfig};

use crate::metrics::{inc, SdMetrics};
use crate::targetgroup::{TargetGroup, ADDRESS_LABEL};
use crate::{DnsServers, Slot};

const NAME_LABEL: &str = "__meta_dns_name";
const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

pub(crate) async fn run(
    config: DnsSdConfig,
    servers: DnsServers,
    slot: Slot,
    metrics: Arc<SdMetrics>,
) {
    // The last group of each name, in config order; `None` until a lookup of it succeeded.
    let mut groups: Vec<Option<TargetGroup>> = vec![None; config.names.len()];
    let mut ticker = tokio::time::interval(config.refresh_interval.as_std());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Built anew each time so an edited resolv.conf takes effect, as Prometheus reads it
        // at every lookup.
        let resolver = match resolver(&servers) {
            Ok(resolver) => resolver,
            Err(error) => {
                for _ in &config.names {
                    inc(&metrics.dns_lookups);
                    inc(&metrics.dns_lookup_failures);
                }
                tracing::error!(%error, "cannot set up the DNS resolver");
                continue;
            }
        };
        let mut lookups = tokio::task::JoinSet::new();
        for (index, name) in config.names.iter().enumerate() {
            let resolver = resolver.clone();
            let name = name.clone();
            let kind = config.kind;
            let port = config.port;
            lookups.spawn(async move {
                let result = lookup(&resolver, &name, kind, port).await;
                (index, name, result)
            });
        }
        while let Some(joined) = lookups.join_next().await {
            let Ok((index, name, result)) = joined else {
                continue;
            };
            inc(&metrics.dns_lookups);
            match result {
                Ok(group) => groups[index] = Some(group),
                Err(error) => {
                    inc(&metrics.dns_lookup_failures);
                    tracing::error!(name, %error, "error refreshing DNS targets");
                }
            }
        }
        slot.set(groups.iter().flatten().cloned().collect());
    }
}

fn resolver(servers: &DnsServers) -> Result<TokioResolver, NetError> {
    let mut builder = match servers {
        DnsServers::System => TokioResolver::builder_tokio()?,
        DnsServers::Nameservers(addresses) => {
            let name_servers = addresses
                .iter()
                .map(|address| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = address.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = address.port();
                    NameServerConfig::new(address.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
            .with_options(ResolverOpts::default())
        }
    };
    let options = builder.options_mut();
    options.use_hosts_file = ResolveHosts::Never;
    options.cache_size = 0;
    builder.build()
}

async fn lookup(
    resolver: &TokioResolver,
    name: &str,
    kind: DnsRecordType,
    port: u16,
) -> Result<TargetGroup, NetError> {
    let record_type = match kind {
        DnsRecordType::Srv => RecordType::SRV,
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Mx => RecordType::MX,
        DnsRecordType::Ns => RecordType::NS,
    };
    let answers = match resolver.lookup(name, record_type).await {
        Ok(lookup) => lookup.answers().to_vec(),
        // NXDOMAIN, or a name without records of this type: no targets, not a failure.
        Err(error) if error.is_no_records_found() => Vec::new(),
        Err(error) => return Err(error),
    };
    let mut targets = Vec::new();
    for record in &answers {
        let mut srv_target = String::new();
        let mut srv_port = String::new();
        let mut mx_target = String::new();
        let mut ns_target = String::new();
        let address = match &record.data {
            RData::SRV(srv) => {
                srv_target = srv.target.to_string();
                srv_port = srv.port.to_string();
                join_host_port(srv_target.trim_end_matches('.'), srv.port)
            }
            RData::MX(mx) => {
                mx_target = mx.exchange.to_string();
                join_host_port(mx_target.trim_end_matches('.'), port)
            }
            RData::NS(ns) => {
                ns_target = ns.0.to_string();
                join_host_port(ns_target.trim_end_matches('.'), port)
            }
            RData::A(a) => join_host_port(&IpAddr::V4(a.0).to_string(), port),
            RData::AAAA(aaaa) => join_host_port(&IpAddr::V6(aaaa.0).to_string(), port),
            // The chain to the answer when the name is an alias.
            RData::CNAME(_) => continue,
            other => {
                tracing::warn!(name, record = %other, "invalid record in DNS answer");
                continue;
            }
        };
        // Every label is set, empty where it does not apply, as in Prometheus.
        targets.push(BTreeMap::from([
            (ADDRESS_LABEL.to_string(), address),
            (NAME_LABEL.to_string(), name.to_string()),
            (SRV_TARGET_LABEL.to_string(), srv_target),
            (SRV_PORT_LABEL.to_string(), srv_port),
            (MX_TARGET_LABEL.to_string(), mx_target),
            (NS_TARGET_LABEL.to_string(), ns_target),
        ]));
    }
    Ok(TargetGroup {
        source: name.to_string(),
        targets,
        labels: BTreeMap::new(),
    })
}

/// `host:port`, with an IPv6 address in brackets, as Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("::1", 80), "[::1]:80");
        assert_eq!(
            join_host_port("db.example.org", 5432),
            "db.example.org:5432"
        );
    }
}
