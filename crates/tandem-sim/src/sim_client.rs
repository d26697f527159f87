//! A simulated RFC 8415 client: Solicit → Advertise → Request → Reply, Renew at T1 (to its
//! server), Rebind at T2 (to all), Release or Decline at random, a new Solicit when its
//! leases run out. It speaks real wire bytes (tandem-wire) and records what it holds, which
//! is what the invariants are checked against.

use ipnet::Ipv6Net;
use tandem_core::Resource;
use tandem_wire::v6::{DhcpOption, Ia, IaAddr, IaPrefix, Message, MessageType, OptionsExt};

use crate::rng::SimRng;

/// Milliseconds of simulated time.
pub type Ms = u64;

const STATUS_NO_BINDING: u16 = 3;

/// Where a datagram goes: every server (multicast) or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    All,
    Server(usize),
}

/// One resource the client may use until `valid_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub resource: Resource,
    pub valid_until: Ms,
    /// The server whose reply last set `valid_until`.
    pub told_by: usize,
}

/// What a reply changed, for the invariant checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// `server` told the client it may use `resource` until `valid_until`.
    Told {
        resource: Resource,
        valid_until: Ms,
        server: usize,
    },
    /// The client gave it up itself (Release / Decline answered, or lifetime 0).
    Dropped { resource: Resource },
    /// A Renew/Rebind reply took a still-valid resource away (invariant (c)).
    StabilityLost {
        resource: Resource,
        server: usize,
        detail: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Soliciting {
        collect_until: Ms,
        offers: Vec<(usize, Vec<u8>, u8)>,
    },
    Requesting {
        server: usize,
        server_id: Vec<u8>,
    },
    Bound,
    Renewing,
    Rebinding,
    Releasing {
        decline: bool,
    },
}

/// The client's DHCPv6 state.
#[derive(Clone, Debug)]
pub struct SimClient {
    pub index: u32,
    /// Reaches the servers through a relay agent on its link (RFC 8415 §19).
    pub relayed: bool,
    duid: Vec<u8>,
    want_na: bool,
    want_pd: bool,
    phase: Phase,
    xid: u32,
    tries: u32,
    wake_at: Ms,
    server: Option<(usize, Vec<u8>)>,
    t1_at: Ms,
    t2_at: Ms,
    pub held: Vec<Held>,
    /// Addresses this client declined (its duplicate-address detection failed on them): it
    /// never uses them again, as a real client would decline them again (RFC 8415 §18.2.8).
    declined: Vec<Resource>,
    pub replies: u64,
    pub malformed: u64,
}

impl SimClient {
    pub fn new(index: u32, want_na: bool, want_pd: bool, start_at: Ms) -> Self {
        let mut duid = vec![0, 3, 0, 1, 0x02, 0x00];
        duid.extend_from_slice(&index.to_be_bytes());
        SimClient {
            index,
            relayed: false,
            duid,
            want_na,
            want_pd,
            phase: Phase::Idle,
            xid: index << 8,
            tries: 0,
            wake_at: start_at,
            server: None,
            t1_at: 0,
            t2_at: 0,
            held: Vec::new(),
            declined: Vec::new(),
            replies: 0,
            malformed: 0,
        }
    }

    /// A stale client (restored from a backup, cloned, moved from another network): it
    /// believes it holds `claimed` — resources it was never given — and renews them with
    /// `server` at once, then rebinds with everyone. Its claims must never take a lease
    /// from the client that holds it.
    pub fn claim(&mut self, now: Ms, claimed: Vec<Resource>, server: usize, server_id: Vec<u8>) {
        self.held = claimed
            .into_iter()
            .map(|resource| Held {
                resource,
                valid_until: now + 600_000,
                told_by: server,
            })
            .collect();
        self.server = Some((server, server_id));
        self.new_xid();
        self.phase = Phase::Bound;
        self.t1_at = now;
        self.t2_at = now + 10_000;
        self.wake_at = now;
    }

    /// Whether the client is renewing with its server (RFC 8415 §18.2.4).
    pub fn renewing(&self) -> bool {
        self.phase == Phase::Renewing
    }

    /// Whether the client sits idle (no exchange running, nothing held).
    pub fn idle(&self) -> bool {
        self.phase == Phase::Idle && self.held.is_empty()
    }

    pub fn duid(&self) -> &[u8] {
        &self.duid
    }

    pub fn next_wakeup(&self) -> Ms {
        self.wake_at
    }

    fn new_xid(&mut self) {
        self.xid = (self.xid + 1) & 0x00ff_ffff;
        self.tries = 0;
    }

    fn message(&self, t: MessageType, with_leases: bool, valid: bool) -> Message {
        let mut m = Message::new(t, self.xid);
        m.options.push(DhcpOption::ClientId(self.duid.clone()));
        m.options.push(DhcpOption::ElapsedTime(0));
        if self.want_na {
            let opts = if with_leases {
                self.ia_opts(false, valid)
            } else {
                Vec::new()
            };
            m.options.push(DhcpOption::IaNa(Ia {
                iaid: 1,
                t1: 0,
                t2: 0,
                options: opts,
            }));
        }
        if self.want_pd {
            let opts = if with_leases {
                self.ia_opts(true, valid)
            } else {
                Vec::new()
            };
            m.options.push(DhcpOption::IaPd(Ia {
                iaid: 2,
                t1: 0,
                t2: 0,
                options: opts,
            }));
        }
        m
    }

    fn ia_opts(&self, pd: bool, valid: bool) -> Vec<DhcpOption> {
        let (p, v) = if valid { (300, 600) } else { (0, 0) };
        self.held
            .iter()
            .filter_map(|h| match (h.resource, pd) {
                (Resource::Address(a), false) => Some(DhcpOption::IaAddr(IaAddr {
                    addr: a,
                    preferred: p,
                    valid: v,
                    options: vec![],
                })),
                (Resource::Prefix(n), true) => Some(DhcpOption::IaPrefix(IaPrefix {
                    preferred: p,
                    valid: v,
                    prefix_len: n.prefix_len(),
                    prefix: n.addr(),
                    options: vec![],
                })),
                _ => None,
            })
            .collect()
    }

    fn with_server(mut m: Message, server_id: &[u8]) -> Message {
        m.options.push(DhcpOption::ServerId(server_id.to_vec()));
        m
    }

    /// Drops leases whose valid lifetime ended.
    fn expire(&mut self, now: Ms, events: &mut Vec<ClientEvent>) {
        self.held.retain(|h| {
            let keep = h.valid_until > now;
            if !keep {
                events.push(ClientEvent::Dropped {
                    resource: h.resource,
                });
            }
            keep
        });
    }

    /// Timers fire: returns datagrams to send and lease events.
    pub fn poll(&mut self, now: Ms, rng: &mut SimRng) -> (Vec<(Dest, Vec<u8>)>, Vec<ClientEvent>) {
        let mut out = Vec::new();
        let mut ev = Vec::new();
        if now < self.wake_at {
            return (out, ev);
        }
        self.expire(now, &mut ev);
        let retrans = |tries: u32| 1000u64 << tries.min(3);
        match self.phase.clone() {
            Phase::Idle => {
                self.new_xid();
                self.phase = Phase::Soliciting {
                    collect_until: now + 1000,
                    offers: vec![],
                };
                out.push((
                    Dest::All,
                    self.message(MessageType::Solicit, false, true).emit(),
                ));
                self.wake_at = now + 1000;
            }
            Phase::Soliciting { offers, .. } => {
                // Highest preference wins; among equals the client picks at random
                // (RFC 8415 §18.2.9 leaves it open), so every server sees new clients.
                let best = offers.iter().map(|o| o.2).max();
                let top: Vec<_> = offers.iter().filter(|o| Some(o.2) == best).collect();
                let choice = match top.len() {
                    0 => None,
                    n => top
                        .get(rng.range(0, n as u64) as usize)
                        .map(|o| (*o).clone()),
                };
                if let Some((server, sid, _)) = choice {
                    self.new_xid();
                    self.phase = Phase::Requesting {
                        server,
                        server_id: sid.clone(),
                    };
                    let m = Self::with_server(self.message(MessageType::Request, true, true), &sid);
                    out.push((Dest::Server(server), m.emit()));
                    self.wake_at = now + retrans(0);
                } else {
                    self.tries += 1;
                    out.push((
                        Dest::All,
                        self.message(MessageType::Solicit, false, true).emit(),
                    ));
                    self.wake_at = now + retrans(self.tries);
                }
            }
            Phase::Requesting { server, server_id } => {
                self.tries += 1;
                if self.tries > 4 {
                    self.phase = Phase::Idle;
                    self.wake_at = now + 1000;
                } else {
                    let m = Self::with_server(
                        self.message(MessageType::Request, true, true),
                        &server_id,
                    );
                    out.push((Dest::Server(server), m.emit()));
                    self.wake_at = now + retrans(self.tries);
                }
            }
            Phase::Bound => {
                if self.held.is_empty() {
                    self.phase = Phase::Idle;
                    self.wake_at = now;
                } else if now >= self.t2_at {
                    self.new_xid();
                    self.phase = Phase::Rebinding;
                    out.push((
                        Dest::All,
                        self.message(MessageType::Rebind, true, true).emit(),
                    ));
                    self.wake_at = now + retrans(0);
                } else if now >= self.t1_at {
                    // Sometimes leave instead of renewing.
                    let roll = rng.range(0, 100);
                    if roll < 4 {
                        let decline = roll == 0
                            && self
                                .held
                                .iter()
                                .any(|h| matches!(h.resource, Resource::Address(_)));
                        // RFC 8415 §18.2.7: the client stops using what it releases before
                        // it sends the Release; from here on nobody may count on it.
                        ev.extend(self.held.iter().map(|h| ClientEvent::Dropped {
                            resource: h.resource,
                        }));
                        self.start_release(now, decline, &mut out);
                    } else {
                        self.new_xid();
                        self.phase = Phase::Renewing;
                        self.send_renew(now, &mut out);
                    }
                } else {
                    self.wake_at = self.t1_at;
                }
            }
            Phase::Renewing => {
                if now >= self.t2_at {
                    self.new_xid();
                    self.phase = Phase::Rebinding;
                    out.push((
                        Dest::All,
                        self.message(MessageType::Rebind, true, true).emit(),
                    ));
                    self.wake_at = now + retrans(0);
                } else {
                    self.tries += 1;
                    self.send_renew(now, &mut out);
                }
            }
            Phase::Rebinding => {
                if self.held.is_empty() {
                    self.phase = Phase::Idle;
                    self.wake_at = now;
                } else {
                    self.tries += 1;
                    out.push((
                        Dest::All,
                        self.message(MessageType::Rebind, true, true).emit(),
                    ));
                    self.wake_at =
                        (now + retrans(self.tries)).min(self.earliest_end().max(now + 1));
                }
            }
            Phase::Releasing { decline } => {
                self.tries += 1;
                if self.tries > 3 {
                    // Gave up waiting: forget the leases anyway (RFC 8415 §18.2.7).
                    for h in self.held.drain(..) {
                        ev.push(ClientEvent::Dropped {
                            resource: h.resource,
                        });
                    }
                    self.phase = Phase::Idle;
                    self.wake_at = now + rng.range(1_000, 60_000);
                } else {
                    self.send_release(decline, &mut out);
                    self.wake_at = now + retrans(self.tries);
                }
            }
        }
        (out, ev)
    }

    fn earliest_end(&self) -> Ms {
        self.held.iter().map(|h| h.valid_until).min().unwrap_or(0)
    }

    fn send_renew(&mut self, now: Ms, out: &mut Vec<(Dest, Vec<u8>)>) {
        if let Some((server, sid)) = self.server.clone() {
            let m = Self::with_server(self.message(MessageType::Renew, true, true), &sid);
            out.push((Dest::Server(server), m.emit()));
        }
        self.wake_at = (now + (1000u64 << self.tries.min(3))).min(self.t2_at.max(now + 1));
    }

    fn start_release(&mut self, now: Ms, decline: bool, out: &mut Vec<(Dest, Vec<u8>)>) {
        self.new_xid();
        self.phase = Phase::Releasing { decline };
        self.send_release(decline, out);
        self.wake_at = now + 1000;
    }

    fn send_release(&mut self, decline: bool, out: &mut Vec<(Dest, Vec<u8>)>) {
        if let Some((server, sid)) = self.server.clone() {
            let t = if decline {
                MessageType::Decline
            } else {
                MessageType::Release
            };
            let mut m = self.message(t, true, false);
            if decline {
                m.options.retain(|o| !matches!(o, DhcpOption::IaPd(_)));
            }
            out.push((Dest::Server(server), Self::with_server(m, &sid).emit()));
        }
    }

    /// A server's answer arrived.
    pub fn on_reply(
        &mut self,
        now: Ms,
        from: usize,
        bytes: &[u8],
        rng: &mut SimRng,
    ) -> Vec<ClientEvent> {
        let mut ev = Vec::new();
        let Ok(m) = Message::parse(bytes) else {
            self.malformed += 1;
            return ev;
        };
        if m.transaction_id != self.xid || m.client_id() != Some(&self.duid[..]) {
            return ev;
        }
        let Some(sid) = m.server_id().map(|s| s.to_vec()) else {
            self.malformed += 1;
            return ev;
        };
        self.expire(now, &mut ev);
        match (&mut self.phase, m.msg_type) {
            (Phase::Soliciting { offers, .. }, MessageType::Advertise) => {
                let usable = m
                    .ia_nas()
                    .iter()
                    .chain(m.ia_pds().iter())
                    .any(|ia| ia.status_code().is_none());
                if usable && !offers.iter().any(|o| o.0 == from) {
                    let pref = m
                        .options
                        .iter()
                        .find_map(|o| match o {
                            DhcpOption::Preference(p) => Some(*p),
                            _ => None,
                        })
                        .unwrap_or(0);
                    offers.push((from, sid, pref));
                }
            }
            (Phase::Requesting { .. } | Phase::Renewing | Phase::Rebinding, MessageType::Reply) => {
                self.replies += 1;
                let was = self.phase.clone();
                self.apply_reply(now, from, &sid, &m, &was, &mut ev);
                // Now and then the machine sleeps (suspend, link down) through its T1 and T2
                // and wakes shortly before its lease ends: its leases stay valid meanwhile,
                // and no server may give them to anyone else (RFC 8415 §18.2.10).
                if self.phase == Phase::Bound && rng.chance(0.1) {
                    let end = self.earliest_end();
                    self.wake_at = end.saturating_sub(rng.range(1_000, 30_000)).max(self.t2_at);
                }
            }
            (Phase::Releasing { decline }, MessageType::Reply) => {
                self.replies += 1;
                if *decline {
                    self.declined.extend(
                        self.held
                            .iter()
                            .filter(|h| matches!(h.resource, Resource::Address(_)))
                            .map(|h| h.resource),
                    );
                }
                for h in self.held.drain(..) {
                    ev.push(ClientEvent::Dropped {
                        resource: h.resource,
                    });
                }
                // After a Decline, stay away longer than the ±5 s within which RFC 8156
                // §7.5.1 calls two times equal: otherwise a partner that did not hear of
                // the Decline may hand the address back and the two records tie.
                let min = if *decline { 30_000 } else { 1_000 };
                self.phase = Phase::Idle;
                self.wake_at = now + rng.range(min, 120_000);
            }
            _ => {}
        }
        ev
    }

    fn apply_reply(
        &mut self,
        now: Ms,
        from: usize,
        sid: &[u8],
        m: &Message,
        was: &Phase,
        ev: &mut Vec<ClientEvent>,
    ) {
        let renewing = matches!(was, Phase::Renewing | Phase::Rebinding);
        let mut got: Vec<(Resource, u32, u32)> = Vec::new(); // resource, preferred, valid
        let mut zeroed: Vec<Resource> = Vec::new();
        let mut t1s = Vec::new();
        let mut no_binding = false;
        for (pd, ias) in [(false, m.ia_nas()), (true, m.ia_pds())] {
            for ia in ias {
                if ia
                    .status_code()
                    .is_some_and(|s| s.code == STATUS_NO_BINDING)
                {
                    no_binding = true;
                }
                if ia.t1 > 0 {
                    t1s.push((ia.t1, ia.t2));
                }
                if pd {
                    for p in ia.ia_prefixes() {
                        let Ok(net) = Ipv6Net::new(p.prefix, p.prefix_len) else {
                            continue;
                        };
                        let r = Resource::Prefix(net);
                        if p.valid > 0 {
                            got.push((r, p.preferred, p.valid))
                        } else {
                            zeroed.push(r)
                        }
                    }
                } else {
                    for a in ia.ia_addrs() {
                        let r = Resource::Address(a.addr);
                        if a.valid > 0 {
                            got.push((r, a.preferred, a.valid))
                        } else {
                            zeroed.push(r)
                        }
                    }
                }
            }
        }
        got.retain(|g| !self.declined.contains(&g.0));
        if renewing {
            for h in &self.held {
                if h.valid_until <= now {
                    continue;
                }
                let kept = got.iter().any(|g| g.0 == h.resource);
                let explicit = zeroed.contains(&h.resource)
                    || got
                        .iter()
                        .any(|g| same_kind(&g.0, &h.resource) && g.0 != h.resource);
                if !kept && explicit {
                    ev.push(ClientEvent::StabilityLost {
                        resource: h.resource,
                        server: from,
                        detail: format!(
                            "{:?} reply from server {from} moved it (zeroed {:?}, got {:?})",
                            was, zeroed, got
                        ),
                    });
                }
            }
        }
        // Lifetime 0: stop using it at once.
        self.held.retain(|h| {
            let drop = zeroed.contains(&h.resource) && !got.iter().any(|g| g.0 == h.resource);
            if drop {
                ev.push(ClientEvent::Dropped {
                    resource: h.resource,
                });
            }
            !drop
        });
        for (r, _, valid) in &got {
            let until = now + u64::from(*valid) * 1000;
            ev.push(ClientEvent::Told {
                resource: *r,
                valid_until: until,
                server: from,
            });
            if let Some(h) = self.held.iter_mut().find(|h| h.resource == *r) {
                h.valid_until = until;
                h.told_by = from;
            } else {
                self.held.push(Held {
                    resource: *r,
                    valid_until: until,
                    told_by: from,
                });
            }
        }
        if got.is_empty() {
            if no_binding || !renewing {
                // Try again from scratch; keep what is still valid meanwhile.
                self.phase = Phase::Idle;
                self.wake_at = now + 2000;
            }
            return;
        }
        self.server = Some((from, sid.to_vec()));
        let shortest_pref = got.iter().map(|g| g.1.max(1)).min().unwrap_or(1);
        let (t1, t2) = t1s
            .first()
            .copied()
            .unwrap_or((shortest_pref / 2, shortest_pref * 4 / 5));
        self.t1_at = now + u64::from(t1.max(1)) * 1000;
        self.t2_at = now + u64::from(t2.max(t1 + 1)) * 1000;
        self.phase = Phase::Bound;
        self.wake_at = self.t1_at;
    }
}

fn same_kind(a: &Resource, b: &Resource) -> bool {
    matches!(a, Resource::Prefix(_)) == matches!(b, Resource::Prefix(_))
}

/// An address for logs.
pub fn show(r: &Resource) -> String {
    match r {
        Resource::Address(a) => a.to_string(),
        Resource::Prefix(p) => p.to_string(),
        Resource::V4Address(a) => a.to_string(),
    }
}
