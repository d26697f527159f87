//! Reload: re-read the configuration file, check it fully (the code `check-config` runs),
//! refuse what cannot change while serving, and swap the DHCPv6 configuration in through
//! the driver ([`crate::runner::CtlRequest::Reload`]), which keeps every lease.

use std::sync::Arc;

use tandem_core::config::Subnet;
use tandem_core::{ServerConfig, Subnet4};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{info, warn};

use super::model::{ApiError, ReloadAnswer};
use crate::counters::Counters;
use crate::runner::CtlRequest;
use crate::startup::ServeSettings;

/// A configuration read again from its file.
#[derive(Clone, Debug)]
pub struct Reloaded {
    pub settings: ServeSettings,
    pub log_level: String,
    /// The file, for messages.
    pub origin: String,
    pub warnings: Vec<String>,
}

/// What the binary provides for reloads: its configuration loader and its logger.
pub trait Reloader: Send + Sync + 'static {
    /// Reads and checks the file the server was started with; every problem, as
    /// `check-config` lists them, when it is not usable.
    fn load(&self) -> Result<Reloaded, ApiError>;
    /// Applies a new log filter (only after the rest of the reload succeeded).
    fn set_level(&self, level: &str) -> Result<(), String>;
}

/// The running configuration and the loader; one reload at a time.
pub struct ReloadCtx {
    reloader: Arc<dyn Reloader>,
    counters: Arc<Counters>,
    running: Mutex<(ServeSettings, String)>,
}

impl ReloadCtx {
    pub fn new(
        reloader: Arc<dyn Reloader>,
        counters: Arc<Counters>,
        running: ServeSettings,
        log_level: String,
    ) -> Self {
        ReloadCtx {
            reloader,
            counters,
            running: Mutex::new((running, log_level)),
        }
    }

    /// One reload, from `origin` ("SIGHUP", "control API"); logged either way.
    pub async fn reload(
        &self,
        tx: &mpsc::Sender<CtlRequest>,
        origin: &str,
    ) -> Result<ReloadAnswer, ApiError> {
        let r = self.reload_inner(tx).await;
        self.counters.update(|c| match &r {
            Ok(_) => c.reloads += 1,
            Err(_) => c.reloads_refused += 1,
        });
        match &r {
            Ok(a) => info!(
                trigger = origin,
                config = %a.config,
                changes = ?a.changes,
                "configuration reloaded"
            ),
            Err(e) => warn!(
                trigger = origin,
                error = %e,
                "configuration reload refused; the running configuration stays"
            ),
        }
        r
    }

    async fn reload_inner(&self, tx: &mpsc::Sender<CtlRequest>) -> Result<ReloadAnswer, ApiError> {
        let mut running = self.running.lock().await;
        let reloader = self.reloader.clone();
        // Reading files: off the runtime's only thread.
        let new = tokio::task::spawn_blocking(move || reloader.load())
            .await
            .map_err(|e| ApiError::new(500, format!("reading the configuration failed: {e}")))??;
        let fixed = fixed_differences(&running.0, &new.settings);
        if !fixed.is_empty() {
            return Err(ApiError::conflict(format!(
                "{}: these settings cannot change while the server runs (restart it to apply \
                 them); nothing was changed",
                new.origin
            ))
            .with_details(fixed));
        }
        let mut changes = core_changes(&running.0.core, &new.settings.core);
        let (otx, orx) = oneshot::channel();
        tx.send(CtlRequest::Reload(Box::new(new.settings.core.clone()), otx))
            .await
            .map_err(|_| ApiError::unavailable("server is stopping"))?;
        match orx.await {
            Ok(Ok(())) => {}
            Ok(Err(problems)) => {
                return Err(ApiError::conflict(format!(
                    "{}: the new configuration does not fit the leases the server holds; \
                     nothing was changed",
                    new.origin
                ))
                .with_details(problems))
            }
            Err(_) => return Err(ApiError::unavailable("server is stopping")),
        }
        let mut warnings = new.warnings.clone();
        if new.log_level != running.1 {
            match self.reloader.set_level(&new.log_level) {
                Ok(()) => changes.push(format!("log_level {:?} -> {:?}", running.1, new.log_level)),
                Err(e) => warnings.push(format!("log_level not changed: {e}")),
            }
        }
        running.0.core = new.settings.core;
        running.1 = new.log_level;
        Ok(ReloadAnswer {
            config: new.origin,
            changes,
            warnings,
        })
    }
}

/// What differs in settings only a restart can change: the sockets, the data directory,
/// the identity, and the failover relationship (role, partner, MCLT, TLS).
pub fn fixed_differences(old: &ServeSettings, new: &ServeSettings) -> Vec<String> {
    let mut d = Vec::new();
    let mut check = |what: &str, changed: bool, old: String, new: String| {
        if changed {
            d.push(format!("{what}: {old} -> {new}"));
        }
    };
    check(
        "server.data_dir",
        old.data_dir != new.data_dir,
        old.data_dir.display().to_string(),
        new.data_dir.display().to_string(),
    );
    check(
        "server.listen_address",
        old.listen_address != new.listen_address,
        old.listen_address.to_string(),
        new.listen_address.to_string(),
    );
    check(
        "server.port",
        old.port != new.port,
        old.port.to_string(),
        new.port.to_string(),
    );
    check(
        "server.listen_address4",
        old.listen_address4 != new.listen_address4,
        old.listen_address4.to_string(),
        new.listen_address4.to_string(),
    );
    check(
        "server.port4",
        old.port4 != new.port4,
        old.port4.to_string(),
        new.port4.to_string(),
    );
    // The sockets and the interfaces the runner knows by name are set up at start.
    let serves = |s: &ServeSettings| {
        let v4 = !s.core.subnets4.is_empty();
        match (!s.core.subnets.is_empty() || !v4, v4) {
            (true, true) => "DHCPv6 and DHCPv4",
            (false, true) => "DHCPv4 only",
            _ => "DHCPv6 only",
        }
    };
    check(
        "families served",
        serves(old) != serves(new),
        serves(old).into(),
        serves(new).into(),
    );
    let v4_links = |s: &ServeSettings| -> Vec<String> {
        s.core
            .subnets4
            .iter()
            .filter_map(|n| n.interface.clone())
            .collect()
    };
    check(
        "subnet4 interfaces",
        v4_links(old) != v4_links(new),
        format!("{:?}", v4_links(old)),
        format!("{:?}", v4_links(new)),
    );
    check(
        "server.interfaces",
        old.interfaces != new.interfaces,
        format!("{:?}", old.interfaces),
        format!("{:?}", new.interfaces),
    );
    check(
        "server.server_duid",
        old.server_duid != new.server_duid,
        "(old)".into(),
        "(new)".into(),
    );
    check(
        "[control]",
        old.control != new.control,
        format!("{:?}", old.control),
        format!("{:?}", new.control),
    );
    // The metrics socket is bound at startup, like the others.
    let metrics = |m: &Option<std::net::SocketAddr>| m.map_or("off".to_string(), |a| a.to_string());
    check(
        "metrics.listen",
        old.metrics != new.metrics,
        metrics(&old.metrics),
        metrics(&new.metrics),
    );
    // The pool watch is built with its thresholds at startup.
    check(
        "server.pool_warn_percent / pool_critical_percent",
        old.pool_thresholds != new.pool_thresholds,
        format!("{:?}", old.pool_thresholds),
        format!("{:?}", new.pool_thresholds),
    );
    match (&old.partner, &new.partner) {
        (None, None) => {}
        (Some(_), None) => {
            d.push("[failover]: removed (a pair member cannot leave its pair live)".into())
        }
        (None, Some(_)) => d.push("[failover]: added (a server cannot join a pair live)".into()),
        (Some(a), Some(b)) => {
            let (ea, eb) = (&a.pair.endpoint, &b.pair.endpoint);
            check(
                "failover.role",
                a.role != b.role,
                a.role.to_string(),
                b.role.to_string(),
            );
            check(
                "failover.peer_address/port",
                a.peer != b.peer,
                a.peer.to_string(),
                b.peer.to_string(),
            );
            check(
                "failover.listen_address",
                a.local != b.local,
                a.local.to_string(),
                b.local.to_string(),
            );
            check(
                "failover.mclt",
                ea.local.mclt != eb.local.mclt,
                ea.local.mclt.to_string(),
                eb.local.mclt.to_string(),
            );
            check(
                "failover (relationship, keepalive, max_unacked_bndupd, startup, auto_partner_down, prefix share)",
                a.pair != b.pair && ea.local.mclt == eb.local.mclt,
                format!("{:?}", a.pair),
                format!("{:?}", b.pair),
            );
            check(
                "failover.tls",
                a.security != b.security,
                format!("{:?}", a.security),
                format!("{:?}", b.security),
            );
        }
    }
    d
}

/// What a reload changes in the core's configuration (DHCPv6 and DHCPv4), one line each.
pub fn core_changes(old: &ServerConfig, new: &ServerConfig) -> Vec<String> {
    let mut c = Vec::new();
    if old.options != new.options {
        c.push("global options".to_string());
    }
    if old.options4 != new.options4 {
        c.push("global DHCPv4 options".to_string());
    }
    for (what, changed) in [
        ("preference", old.preference != new.preference),
        (
            "decline_quarantine",
            old.decline_quarantine != new.decline_quarantine,
        ),
        ("affinity_time", old.affinity_time != new.affinity_time),
        ("accept_unicast", old.accept_unicast != new.accept_unicast),
        ("probe_budget", old.probe_budget != new.probe_budget),
    ] {
        if changed {
            c.push(format!("server.{what}"));
        }
    }
    for s in &new.subnets {
        match old.subnets.iter().find(|o| o.id == s.id) {
            None => c.push(format!("subnet {} ({}) added", s.id, s.prefix)),
            Some(o) if o != s => {
                c.push(format!("subnet {}: {}", s.id, subnet_diff(o, s).join(", ")))
            }
            Some(_) => {}
        }
    }
    for o in &old.subnets {
        if !new.subnets.iter().any(|s| s.id == o.id) {
            c.push(format!("subnet {} ({}) removed", o.id, o.prefix));
        }
    }
    for s in &new.subnets4 {
        match old.subnets4.iter().find(|o| o.id == s.id) {
            None => c.push(format!("subnet4 {} ({}) added", s.id, s.subnet)),
            Some(o) if o != s => c.push(format!(
                "subnet4 {}: {}",
                s.id,
                subnet4_diff(o, s).join(", ")
            )),
            Some(_) => {}
        }
    }
    for o in &old.subnets4 {
        if !new.subnets4.iter().any(|s| s.id == o.id) {
            c.push(format!("subnet4 {} ({}) removed", o.id, o.subnet));
        }
    }
    c
}

fn subnet4_diff(a: &Subnet4, b: &Subnet4) -> Vec<&'static str> {
    [
        ("subnet", a.subnet != b.subnet),
        ("interface", a.interface != b.interface),
        ("shared_network", a.shared_network != b.shared_network),
        ("pools", a.pools != b.pools),
        ("lease_time", a.lease_time != b.lease_time),
        ("t1", a.t1 != b.t1),
        ("t2", a.t2 != b.t2),
        ("options", a.options != b.options),
        ("reservations", a.reservations != b.reservations),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

fn subnet_diff(a: &Subnet, b: &Subnet) -> Vec<&'static str> {
    let mut d = Vec::new();
    let fields: [(&'static str, bool); 10] = [
        ("interface", a.interface != b.interface),
        ("pools", a.pools != b.pools),
        ("pd_pools", a.pd_pools != b.pd_pools),
        (
            "preferred_lifetime",
            a.preferred_lifetime != b.preferred_lifetime,
        ),
        ("valid_lifetime", a.valid_lifetime != b.valid_lifetime),
        ("renew_time", a.t1 != b.t1),
        ("rebind_time", a.t2 != b.t2),
        ("rapid_commit", a.rapid_commit != b.rapid_commit),
        ("options", a.options != b.options),
        ("reservations", a.reservations != b.reservations),
    ];
    for (name, changed) in fields {
        if changed {
            d.push(name);
        }
    }
    d
}

#[cfg(test)]
mod metrics_tests {
    use super::*;

    fn settings(metrics: Option<&str>) -> ServeSettings {
        ServeSettings {
            data_dir: "/var/lib/tandem".into(),
            listen_address: std::net::Ipv6Addr::UNSPECIFIED,
            port: 547,
            listen_address4: std::net::Ipv4Addr::UNSPECIFIED,
            port4: 67,
            interfaces: vec![],
            server_duid: None,
            core: tandem_core::ServerConfig::default(),
            partner: None,
            metrics: metrics.map(|m| m.parse().unwrap()),
            control: Default::default(),
            pool_thresholds: Default::default(),
            pool_names: Default::default(),
        }
    }

    #[test]
    fn a_reload_refuses_a_new_metrics_listen_address_it_needs_a_restart() {
        let d = fixed_differences(&settings(None), &settings(Some("[::1]:9547")));
        assert_eq!(d, vec!["metrics.listen: off -> [::1]:9547".to_string()]);
        let same = settings(Some("[::1]:9547"));
        assert!(fixed_differences(&same, &same.clone()).is_empty());
    }

    #[test]
    fn a_reload_refuses_a_new_dhcpv4_port_or_listen_address_they_need_a_restart() {
        let mut new = settings(None);
        new.port4 = 1067;
        new.listen_address4 = std::net::Ipv4Addr::new(192, 0, 2, 1);
        let d = fixed_differences(&settings(None), &new);
        assert_eq!(
            d,
            vec![
                "server.listen_address4: 0.0.0.0 -> 192.0.2.1".to_string(),
                "server.port4: 67 -> 1067".to_string(),
            ]
        );
    }

    #[test]
    fn a_reload_names_the_dhcpv4_subnets_and_options_it_changes() {
        let old = ServerConfig::default();
        let mut new = old.clone();
        new.options4.routers = vec![std::net::Ipv4Addr::new(192, 0, 2, 1)];
        new.subnets4
            .push(Subnet4::new(4, "192.0.2.0/24".parse().unwrap()));
        assert_eq!(
            core_changes(&old, &new),
            vec![
                "global DHCPv4 options".to_string(),
                "subnet4 4 (192.0.2.0/24) added".to_string(),
            ]
        );
        let mut longer = new.clone();
        longer.subnets4[0].lease_time = 7200;
        assert_eq!(
            core_changes(&new, &longer),
            vec!["subnet4 4: lease_time".to_string()]
        );
        assert_eq!(
            core_changes(&new, &old),
            vec![
                "global DHCPv4 options".to_string(),
                "subnet4 4 (192.0.2.0/24) removed".to_string(),
            ]
        );
    }

    #[test]
    fn a_reload_refuses_new_pool_thresholds_the_pool_watch_keeps_its_own() {
        let mut new = settings(None);
        new.pool_thresholds.warn_percent = 50;
        let d = fixed_differences(&settings(None), &new);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("server.pool_warn_percent"), "{d:?}");
    }
}
