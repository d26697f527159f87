//! Validation, the answer to each message type (RFC 2131 §4.3), the reply's options and
//! where it goes (§4.1).

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddrV4};

use tandem_wire::v4::{
    code, DhcpOption, Message, MessageType, OptionsExt, BOOTREQUEST, BROADCAST_FLAG,
};

use crate::dhcpv6::{DropReason, Malformed, Outcome, Reply};
use crate::lease::{BindingStatus, Duid, IaType, LeaseChange, Resource};
use crate::table::ClientRef;
use crate::time::Time;
use crate::DhcpServer;

use super::assign::Pick4;
use super::{RxInfo4, CLIENT_PORT, SERVER_PORT};

/// A DHCPv4 request with what every handler needs.
pub(super) struct Request4<'a> {
    pub(super) msg: &'a Message,
    /// The client key (RFC 2131 §4.2): option 61 as sent, else 'htype' + 'chaddr'.
    pub(super) client: Duid,
    /// 'htype' + 'chaddr', stored with the lease.
    pub(super) hw_address: Vec<u8>,
    /// The subnets of the client's link (indexes into `subnets4`), the selected first.
    pub(super) link: Vec<usize>,
    pub(super) now: Time,
}

impl Request4<'_> {
    pub(super) fn holder(&self) -> ClientRef {
        ClientRef::V4(self.client.clone())
    }
}

/// What a handler decided: a reply (its type, 'yiaddr', the subnet whose options it
/// carries and the lease times it states) or none, and the changes to persist first.
pub(super) struct Answer4 {
    pub(super) reply: Option<ReplySpec>,
    pub(super) changes: Vec<LeaseChange>,
    pub(super) drop: Option<DropReason>,
    /// Probe this address before the reply leaves (RFC 2131 §4.4.1).
    pub(super) probe: Option<crate::dhcpv4::Probe4>,
}

pub(super) struct ReplySpec {
    pub(super) msg_type: MessageType,
    pub(super) yiaddr: Ipv4Addr,
    /// Index into `subnets4` of the subnet whose mask and options go out.
    pub(super) subnet: Option<usize>,
    /// (lease time, T1, T2), for an OFFER or ACK of an address.
    pub(super) times: Option<(u32, u32, u32)>,
    /// Option 56 text of a DHCPNAK.
    pub(super) message: Option<&'static str>,
}

impl Answer4 {
    pub(super) fn silent(reason: DropReason) -> Self {
        Answer4 {
            reply: None,
            changes: Vec::new(),
            drop: Some(reason),
            probe: None,
        }
    }

    pub(super) fn nak(subnet: Option<usize>, why: &'static str) -> Self {
        Answer4 {
            reply: Some(ReplySpec {
                msg_type: MessageType::Nak,
                yiaddr: Ipv4Addr::UNSPECIFIED,
                subnet,
                times: None,
                message: Some(why),
            }),
            changes: Vec::new(),
            drop: None,
            probe: None,
        }
    }
}

/// The client key of RFC 2131 §4.2 and the hardware address: `htype` then `chaddr`.
fn client_key(msg: &Message) -> (Duid, Vec<u8>) {
    let mut hw = Vec::with_capacity(17);
    hw.push(msg.header.htype);
    hw.extend_from_slice(msg.header.client_hw_addr());
    let key = match msg.client_identifier() {
        Some(id) if !id.is_empty() => id.into_owned(),
        _ => hw.clone(),
    };
    (Duid(key), hw)
}

impl DhcpServer {
    /// Processes one DHCPv4 datagram received at `now`: decodes it, then
    /// [`Self::handle_v4_message`].
    pub fn handle_v4(&mut self, now: Time, bytes: &[u8], rx: &RxInfo4) -> Outcome {
        match Message::parse(bytes) {
            Ok(msg) => self.handle_v4_message(now, &msg, rx),
            Err(error) => self.counted(Outcome::dropped(DropReason::Malformed(Malformed::Wire {
                relay_depth: 0,
                error,
            }))),
        }
    }

    /// Processes one DHCPv4 message already decoded by `tandem_wire::v4::Message::parse`.
    pub fn handle_v4_message(&mut self, now: Time, msg: &Message, rx: &RxInfo4) -> Outcome {
        let out = self.answer_v4(now, msg, rx);
        self.counted(out)
    }

    fn answer_v4(&mut self, now: Time, msg: &Message, rx: &RxInfo4) -> Outcome {
        let mut out = Outcome {
            xid: Some(msg.header.xid),
            ..Outcome::default()
        };
        let drop = |mut o: Outcome, r: DropReason| {
            o.drop = Some(r);
            o
        };
        if msg.header.op != BOOTREQUEST {
            return drop(out, DropReason::NotARequest);
        }
        let Some(t) = msg.message_type() else {
            return drop(out, DropReason::Bootp);
        };
        out.msg_type = Some(t.into());
        use MessageType as M;
        if !matches!(
            t,
            M::Discover | M::Request | M::Decline | M::Release | M::Inform
        ) {
            return drop(out, DropReason::UnknownType);
        }
        let (client, hw_address) = client_key(msg);
        out.client_duid = Some(client.clone());
        // Option 54 names the server the client chose (RFC 2131 §4.3.2) or talks to
        // (§4.3.3, §4.3.4). Another server's: not ours to answer.
        let server_id = msg.server_identifier();
        let names_us = server_id.is_none_or(|id| id == rx.local);
        let link = self.select_link(msg, rx);
        out.subnet_id = link
            .first()
            .and_then(|i| self.config.subnets4.get(*i))
            .map(|s| s.id);
        let req = Request4 {
            msg,
            client,
            hw_address,
            link,
            now,
        };
        if !names_us {
            if t == M::Request {
                // The client took another server's offer: ours is free again.
                let held = self.offers_by_client.get(&req.holder()).copied();
                if let Some(r) = held {
                    self.forget_offer(&r);
                }
            }
            return drop(out, DropReason::ForeignServerId);
        }
        if req.link.is_empty() {
            return drop(out, DropReason::NoSubnet);
        }
        let client_id = msg.client_identifier();
        let lb_key =
            tandem_wire::dhcpfo::client_key(client_id.as_deref(), msg.header.client_hw_addr());
        if !self
            .policy
            .should_answer4(t.into(), lb_key, msg.header.secs)
        {
            return drop(out, DropReason::Policy);
        }
        let answer = match t {
            M::Discover => self.discover(&req),
            M::Request => self.request4(&req),
            M::Decline => self.decline4(&req),
            M::Release => self.release4(&req),
            _ => self.inform(&req),
        };
        out.changes = answer.changes;
        out.drop = answer.drop;
        out.probe = answer.probe;
        if let Some(spec) = answer.reply {
            out.reply_type = Some(spec.msg_type.into());
            out.reply = Some(self.reply4(&req, &spec, rx));
        }
        out
    }

    // ------------------------------------------------------------------ messages

    /// RFC 2131 §4.3.1: an address for the client, held for it (in memory) until it
    /// requests it; nothing is stored, so the OFFER leaves at once — unless the subnet
    /// probes addresses new to the client first (§4.4.1), which the answer then says.
    fn discover(&mut self, req: &Request4) -> Answer4 {
        let Some(Pick4 {
            addr,
            subnet,
            clients_own,
        }) = self.pick4(req)
        else {
            // For the pool-exhausted log line, as a DHCPv6 IA_NA that got NoAddrsAvail.
            self.exhausted.push(IaType::Na);
            return Answer4::silent(DropReason::NoAddressAvailable);
        };
        let r = Resource::V4Address(addr);
        let times = self.lease_times(req, subnet, &r);
        self.hold_offer(req.holder(), r, req.now);
        Answer4 {
            reply: Some(ReplySpec {
                msg_type: MessageType::Offer,
                yiaddr: addr,
                subnet: Some(subnet),
                times: Some(times),
                message: None,
            }),
            changes: Vec::new(),
            drop: None,
            probe: self.probe_for(addr, subnet, clients_own),
        }
    }

    /// RFC 2131 §4.3.2, by the client's state: SELECTING (option 54 present), INIT-REBOOT
    /// (option 50, no 'ciaddr'), RENEWING / REBINDING ('ciaddr'). An ACK commits the lease;
    /// the reply waits until it is durable.
    fn request4(&mut self, req: &Request4) -> Answer4 {
        let h = &req.msg.header;
        let requested = req.msg.requested_ip();
        let selecting = req.msg.server_identifier().is_some();
        if selecting {
            // Table 5: 'ciaddr' MUST be 0 and option 50 MUST be there; a client that
            // puts the address in 'ciaddr' instead is answered for it all the same.
            let Some(addr) = requested.or(Some(h.ciaddr).filter(|a| !a.is_unspecified())) else {
                return Answer4::silent(DropReason::MissingRequestedAddress);
            };
            return match self.grantable(req, addr) {
                Some(subnet) => self.ack(req, addr, subnet),
                None => Answer4::nak(
                    self.subnet_of(req, addr),
                    "the requested address is not available to this client",
                ),
            };
        }
        if let (Some(addr), true) = (requested, h.ciaddr.is_unspecified()) {
            // INIT-REBOOT: the client checks the address it remembers.
            let Some(subnet) = self.subnet_of(req, addr) else {
                return Answer4::nak(req.link.first().copied(), "wrong network");
            };
            if self.grantable_own(req, addr).is_some() {
                return self.ack(req, addr, subnet);
            }
            let knows_client =
                !self.leases.for_client_v4(&req.client).is_empty() || self.reserved4(req).is_some();
            let taken = self
                .leases
                .get(&Resource::V4Address(addr))
                .is_some_and(|l| l.is_active_at(req.now) && !req.holder().holds(l));
            if knows_client || taken || !self.appropriate4(req, addr) {
                return Answer4::nak(Some(subnet), "the address is not this client's");
            }
            return Answer4::silent(DropReason::UnknownClient);
        }
        // RENEWING (unicast) or REBINDING (broadcast): the client uses 'ciaddr'.
        let addr = h.ciaddr;
        if addr.is_unspecified() {
            return Answer4::silent(DropReason::MissingRequestedAddress);
        }
        let Some(subnet) = self.subnet_of(req, addr) else {
            return Answer4::nak(req.link.first().copied(), "wrong network");
        };
        match self.grantable_own(req, addr) {
            Some(_) => self.ack(req, addr, subnet),
            None => Answer4::nak(Some(subnet), "the address is not this client's"),
        }
    }

    /// RFC 2131 §4.3.3: the client found the address in use: quarantined (ABANDONED)
    /// for `decline_quarantine`, or the subnet's lease time. No reply.
    fn decline4(&mut self, req: &Request4) -> Answer4 {
        let Some(addr) = req.msg.requested_ip() else {
            return Answer4::silent(DropReason::MissingRequestedAddress);
        };
        let r = Resource::V4Address(addr);
        let mut changes = Vec::new();
        if self.client_binding(req, &r).is_some() {
            let subnet = self.subnet_of(req, addr);
            changes = self.quarantine4(addr, subnet, req.now);
        }
        Answer4 {
            reply: None,
            changes,
            drop: None,
            probe: None,
        }
    }

    /// RFC 2131 §4.3.4: the client gives up 'ciaddr'; the record is kept
    /// `affinity_time` so the client gets it back. No reply.
    fn release4(&mut self, req: &Request4) -> Answer4 {
        let r = Resource::V4Address(req.msg.header.ciaddr);
        let mut changes = Vec::new();
        if self.client_binding(req, &r).is_some() {
            let until = req.now.plus(u64::from(self.config.affinity_time));
            changes.extend(self.end_binding(&r, BindingStatus::Released, until, req.now));
        }
        Answer4 {
            reply: None,
            changes,
            drop: None,
            probe: None,
        }
    }

    /// RFC 2131 §4.3.5: configuration only, for a client with an address of its own
    /// ('ciaddr'): no lease time, no 'yiaddr'.
    fn inform(&mut self, req: &Request4) -> Answer4 {
        let subnet = self
            .subnet_of(req, req.msg.header.ciaddr)
            .or(req.link.first().copied());
        Answer4 {
            reply: Some(ReplySpec {
                msg_type: MessageType::Ack,
                yiaddr: Ipv4Addr::UNSPECIFIED,
                subnet,
                times: None,
                message: None,
            }),
            changes: Vec::new(),
            drop: None,
            probe: None,
        }
    }

    /// Commits `addr` to the client and answers DHCPACK.
    fn ack(&mut self, req: &Request4, addr: Ipv4Addr, subnet: usize) -> Answer4 {
        let r = Resource::V4Address(addr);
        let (lease_time, t1, t2) = self.lease_times(req, subnet, &r);
        let sid = self.config.subnets4.get(subnet).map_or(0, |s| s.id);
        let mut lease = self.active_record(r, &req.holder(), sid, lease_time, lease_time, req.now);
        lease.hw_address = req.hw_address.clone();
        lease.t1 = t1;
        lease.t2 = t2;
        self.forget_offer(&r);
        self.put(lease.clone());
        Answer4 {
            reply: Some(ReplySpec {
                msg_type: MessageType::Ack,
                yiaddr: addr,
                subnet: Some(subnet),
                times: Some((lease_time, t1, t2)),
                message: None,
            }),
            changes: vec![LeaseChange::Upsert(lease)],
            drop: None,
            probe: None,
        }
    }

    /// (lease time, T1, T2) for `r`: the subnet's, capped by the lease policy (failover's
    /// MCLT), T1/T2 shrunk to fit (RFC 2131 §4.4.5 defaults 0.5 and 0.875).
    fn lease_times(&self, req: &Request4, subnet: usize, r: &Resource) -> (u32, u32, u32) {
        let Some(s) = self.config.subnets4.get(subnet) else {
            return (0, 0, 0);
        };
        let binding = self
            .leases
            .get(r)
            .filter(|l| l.status == BindingStatus::Active && req.holder().holds(l));
        let lease_time = self
            .policy
            .cap_valid_lifetime(r, binding, s.lease_time, req.now)
            .min(s.lease_time);
        if lease_time == s.lease_time {
            return (lease_time, s.effective_t1(), s.effective_t2());
        }
        let t1 = s.effective_t1().min(lease_time / 2);
        let t2 = s
            .effective_t2()
            .min(((u64::from(lease_time) * 7) / 8) as u32);
        (lease_time, t1, t2)
    }

    // ------------------------------------------------------------------ the reply

    /// The datagram for `spec`: header per RFC 2131 §4.3.1 table 3 (the codec's
    /// `reply`), options, and its destination (§4.1).
    fn reply4(&self, req: &Request4, spec: &ReplySpec, rx: &RxInfo4) -> Reply {
        let msg = req.msg;
        let nak = spec.msg_type == MessageType::Nak;
        let mut b = msg.reply(spec.msg_type).yiaddr(spec.yiaddr);
        if nak && !msg.header.giaddr.is_unspecified() {
            // §4.3.2: a DHCPNAK through a relay is broadcast on the client's link.
            b.header_mut().flags |= BROADCAST_FLAG;
        }
        b = b.option(DhcpOption::server_identifier(rx.local));
        if let Some((lease_time, t1, t2)) = spec.times {
            b = b
                .option(DhcpOption::lease_time(lease_time))
                .option(DhcpOption::renewal_time(t1))
                .option(DhcpOption::rebinding_time(t2));
        }
        if let Some(text) = spec.message {
            b = b.option(DhcpOption::new(code::MESSAGE, text.as_bytes()));
        }
        if !nak {
            for o in self.options4_for(spec.subnet, msg) {
                b = b.option(o);
            }
        }
        // RFC 6842 §3: the client identifier goes back as sent.
        if let Some(id) = msg.client_identifier() {
            b = b.option(DhcpOption::new(code::CLIENT_ID, id.into_owned()));
        }
        Reply {
            bytes: b.build().emit(),
            dest: destination(msg, rx, nak).into(),
        }
    }

    /// The options of a reply: the subnet mask, routers and DNS servers always (clients
    /// depend on them, RFC 2131 §4.3.1 lets a server send what was not asked for), the
    /// rest when the client lists the code in option 55, in the order it lists them
    /// (RFC 2132 §9.8).
    fn options4_for(&self, subnet: Option<usize>, msg: &Message) -> Vec<DhcpOption> {
        let s = subnet.and_then(|i| self.config.subnets4.get(i));
        let set = match s {
            Some(s) => s.options.merged_over(&self.config.options4),
            None => self.config.options4.clone(),
        };
        let prl: Cow<'_, [u8]> = msg.parameter_request_list().unwrap_or_default();
        let mut out = Vec::new();
        if let Some(s) = s {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(s.subnet.prefix_len()))
                .unwrap_or(0);
            out.push(DhcpOption::subnet_mask(Ipv4Addr::from(mask)));
        }
        if !set.routers.is_empty() {
            out.push(DhcpOption::routers(&set.routers));
        }
        if !set.dns_servers.is_empty() {
            out.push(DhcpOption::dns_servers(&set.dns_servers));
        }
        for &c in prl.iter() {
            let o = match c {
                code::DOMAIN_NAME => set.domain_name.as_deref().map(DhcpOption::domain_name),
                code::NTP_SERVERS if !set.ntp_servers.is_empty() => {
                    Some(DhcpOption::ntp_servers(&set.ntp_servers))
                }
                code::INTERFACE_MTU => set.interface_mtu.map(DhcpOption::interface_mtu),
                code::CLASSLESS_ROUTES if !set.classless_routes.is_empty() => {
                    Some(DhcpOption::classless_routes(&set.classless_routes))
                }
                _ => set
                    .other
                    .iter()
                    .find(|(oc, _)| *oc == c)
                    .map(|(_, data)| DhcpOption::new(c, data.clone())),
            };
            if let Some(o) = o.filter(|o| !out.iter().any(|x| x.code == o.code)) {
                out.push(o);
            }
        }
        out
    }
}

/// Where a reply goes (RFC 2131 §4.1; see the module documentation).
fn destination(msg: &Message, rx: &RxInfo4, nak: bool) -> SocketAddrV4 {
    let h = &msg.header;
    if !h.giaddr.is_unspecified() {
        let port = if *rx.src.ip() == h.giaddr {
            rx.src.port()
        } else {
            SERVER_PORT
        };
        return SocketAddrV4::new(h.giaddr, port);
    }
    if !nak && !h.ciaddr.is_unspecified() {
        return SocketAddrV4::new(h.ciaddr, CLIENT_PORT);
    }
    SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
}
