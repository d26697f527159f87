//! Per-message server behaviour: RFC 8415 §18.3.1–§18.3.8.

use tandem_wire::v6::{status, DhcpOption, Ia, MessageType, OptionsExt};

use crate::lease::{BindingStatus, IaType, LeaseChange, Resource};
use crate::table::ClientKey;

use super::assign::{client_key, ia_of, ia_resources, ia_ta_unsupported};
use super::server::{status_option, DhcpServer, Grant, IaOut, Request};

/// A reply's message type, its options (Client and Server ID added later) and the lease
/// changes it commits.
pub(super) type Answer = (MessageType, Vec<DhcpOption>, Vec<LeaseChange>);

impl DhcpServer {
    /// RFC 8415 §18.3.1 (and §18.3.2 via Rapid Commit).
    pub(super) fn solicit(&mut self, req: &Request) -> Option<Answer> {
        let subnet_rc = self.subnet(req.subnet).is_some_and(|s| s.rapid_commit);
        let commit = subnet_rc && req.msg.has_rapid_commit();
        let mut ias = Vec::new();
        for o in &req.msg.options {
            if let Some((kind, ia)) = ia_of(o) {
                ias.push(self.assign_ia(req, kind, ia, commit));
            } else if let DhcpOption::IaTa(ta) = o {
                ias.push(ia_ta_unsupported(ta.iaid));
            }
        }
        let (mut opts, changes) = self.render(req, ias, commit);
        if commit {
            opts.push(DhcpOption::RapidCommit);
            Some((MessageType::Reply, opts, changes))
        } else {
            if let Some(p) = self.config.preference {
                opts.push(DhcpOption::Preference(p));
            }
            Some((MessageType::Advertise, opts, changes))
        }
    }

    /// RFC 8415 §18.3.2.
    pub(super) fn request(&mut self, req: &Request) -> Answer {
        let mut ias = Vec::new();
        for o in &req.msg.options {
            if let Some((kind, ia)) = ia_of(o) {
                let off_link = kind == IaType::Na
                    && ia_resources(kind, ia)
                        .iter()
                        .any(|r| !self.on_link(req.subnet, r));
                if off_link {
                    ias.push(IaOut {
                        kind,
                        iaid: ia.iaid,
                        grants: vec![],
                        status: Some((status::NOT_ON_LINK, "address not on this link")),
                    });
                } else {
                    ias.push(self.assign_ia(req, kind, ia, true));
                }
            } else if let DhcpOption::IaTa(ta) = o {
                ias.push(ia_ta_unsupported(ta.iaid));
            }
        }
        let (opts, changes) = self.render(req, ias, true);
        (MessageType::Reply, opts, changes)
    }

    /// RFC 8415 §18.3.4 (Renew) and §18.3.5 (Rebind).
    pub(super) fn renew_or_rebind(&mut self, req: &Request, rebind: bool) -> Answer {
        let mut ias = Vec::new();
        for (kind, ia) in req.msg.options.iter().filter_map(ia_of) {
            let key = client_key(&req.duid, ia.iaid, kind);
            let own = self.own_resources(&key, req.subnet, req.now);
            let listed = ia_resources(kind, ia);
            let mut grants = Vec::new();
            let mut adopted = Vec::new();
            for r in &listed {
                if own.contains(r) {
                    continue;
                }
                if self.adoptable(req, &key, r) {
                    adopted.push(*r);
                } else {
                    // Not this client's (or not for this link): tell it to stop using it.
                    grants.push(Grant {
                        resource: *r,
                        preferred: 0,
                        valid: 0,
                        commit: None,
                    });
                }
            }
            for r in &adopted {
                grants.push(self.grant(req, &key, *r, true));
            }
            for r in &own {
                if self.appropriate(req.subnet, &req.duid, r) {
                    grants.push(self.grant(req, &key, *r, true));
                } else {
                    grants.push(Grant {
                        resource: *r,
                        preferred: 0,
                        valid: 0,
                        commit: None,
                    });
                }
            }
            let has_entry = self
                .leases
                .for_client(&key.0, key.1, key.2)
                .iter()
                .any(|l| {
                    l.subnet_id == self.subnet(req.subnet).map_or(u32::MAX, |s| s.id)
                        && l.status != BindingStatus::Abandoned
                });
            let extended = grants.iter().any(|g| g.valid > 0);
            let all_on_link = listed.iter().all(|r| self.on_link(req.subnet, r));
            let out = if extended {
                IaOut {
                    kind,
                    iaid: ia.iaid,
                    grants,
                    status: None,
                }
            } else if has_entry
                || (rebind
                    && all_on_link
                    && self.subnet(req.subnet).is_some_and(|s| s.rapid_commit))
            {
                // Known client whose binding lapsed, or Rebind creation allowed: assign anew.
                let mut a = self.assign_ia(req, kind, ia, true);
                // A re-granted listed resource must not also appear with lifetime 0.
                let fresh: Vec<Resource> = a.grants.iter().map(|g| g.resource).collect();
                a.grants
                    .extend(grants.into_iter().filter(|g| !fresh.contains(&g.resource)));
                a
            } else if !grants.is_empty() && !all_on_link {
                IaOut {
                    kind,
                    iaid: ia.iaid,
                    grants,
                    status: None,
                }
            } else {
                IaOut {
                    kind,
                    iaid: ia.iaid,
                    grants,
                    status: Some((status::NO_BINDING, "no binding for this IA")),
                }
            };
            ias.push(out);
        }
        let (opts, changes) = self.render(req, ias, true);
        (MessageType::Reply, opts, changes)
    }

    /// Whether a resource the client lists but holds no binding for here may become its
    /// binding (RFC 8415 §18.3.4/§18.3.5 let a server create it): right for the link, held
    /// by no other client (no record, an available one, or this client's own lapsed one),
    /// and allowed by the lease policy (failover: RFC 8156 §4.2,
    /// §8.4.1, §8.7.1).
    fn adoptable(&self, req: &Request, key: &ClientKey, r: &Resource) -> bool {
        let unheld = match self.leases.get(r) {
            None => true,
            Some(l) => match l.status {
                BindingStatus::Free | BindingStatus::FreeBackup => true,
                BindingStatus::Expired | BindingStatus::Released => {
                    l.duid == key.0 && l.iaid == key.1
                }
                _ => false,
            },
        };
        // An Advertise to another client is no lease (RFC 8415 §18.3.1): the client that
        // holds one comes first; the other will be offered something else.
        unheld
            && self.appropriate(req.subnet, &req.duid, r)
            && self.on_link(req.subnet, r)
            && self.policy.may_adopt(r, self.leases.get(r), req.now)
    }

    /// RFC 8415 §18.3.7 (Release) and §18.3.8 (Decline).
    pub(super) fn release_or_decline(&mut self, req: &Request, decline: bool) -> Answer {
        let now = req.now;
        let (affinity, quarantine) = {
            let s = self.subnet(req.subnet);
            (
                u64::from(self.config.affinity_time),
                self.config
                    .decline_quarantine
                    .unwrap_or(s.map_or(0, |s| s.valid_lifetime)),
            )
        };
        let mut opts = Vec::new();
        let mut changes = Vec::new();
        for (kind, ia) in req.msg.options.iter().filter_map(ia_of) {
            // A Decline names addresses only (RFC 8415 §18.2.8).
            if kind == IaType::Pd && decline {
                continue;
            }
            let key = client_key(&req.duid, ia.iaid, kind);
            let mut found = false;
            for r in ia_resources(kind, ia) {
                let Some(l) = self.leases.get(&r) else {
                    continue;
                };
                if l.duid != key.0 || l.iaid != key.1 || l.status == BindingStatus::Abandoned {
                    continue;
                }
                found = true;
                // A quarantine as long as an infinite valid lifetime never ends (RFC 8415 §7.7).
                changes.extend(if decline {
                    self.end_binding(
                        &r,
                        BindingStatus::Abandoned,
                        now.plus_lifetime(quarantine),
                        now,
                    )
                } else {
                    self.end_binding(&r, BindingStatus::Released, now.plus(affinity), now)
                });
            }
            if !found {
                let ia = Ia {
                    iaid: ia.iaid,
                    t1: 0,
                    t2: 0,
                    options: vec![status_option(status::NO_BINDING, "no binding for this IA")],
                };
                opts.push(match kind {
                    IaType::Pd => DhcpOption::IaPd(ia),
                    _ => DhcpOption::IaNa(ia),
                });
            }
        }
        let text = if decline { "declined" } else { "released" };
        opts.push(status_option(status::SUCCESS, text));
        (MessageType::Reply, opts, changes)
    }

    /// RFC 8415 §18.3.3: Success when every address fits the link, NotOnLink otherwise.
    pub(super) fn confirm(&mut self, req: &Request) -> Option<Answer> {
        let mut addrs = Vec::new();
        for ia in req.msg.ia_nas() {
            addrs.extend(ia_resources(IaType::Na, ia));
        }
        if addrs.is_empty() {
            return None;
        }
        let st = if addrs.iter().all(|r| self.on_link(req.subnet, r)) {
            status_option(status::SUCCESS, "all addresses on link")
        } else {
            status_option(status::NOT_ON_LINK, "address not on this link")
        };
        Some((MessageType::Reply, vec![st], Vec::new()))
    }
}
