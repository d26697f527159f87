//! What goes into [`super::DhcpServer::handle`] besides the datagram, and what comes out.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use tandem_wire::WireError;

use crate::lease::{Duid, IaType, LeaseChange};

/// Where and how a datagram arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxInfo {
    /// Sender address and port.
    pub src: SocketAddrV6,
    /// Destination address the sender used (ff02::1:2 when multicast).
    pub dst: Ipv6Addr,
    /// Name of the arrival interface ("" when unknown).
    pub interface: String,
}

impl RxInfo {
    pub fn dst_is_multicast(&self) -> bool {
        self.dst.is_multicast()
    }
}

/// Why a datagram got no answer. Each kind has a counter, named by [`DropReason::as_str`];
/// `Display` adds the detail (for a malformed datagram: which byte, which option, why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Could not be decoded, or a field is outside what RFC 8415 allows (§16 "discard
    /// ... that fail validation").
    Malformed(Malformed),
    /// Not a message type a server processes (Advertise, Reply, unknown codes ...).
    UnknownType,
    MissingClientId,
    /// Server ID in Solicit/Confirm/Rebind (§16.2, §16.5, §16.7).
    UnexpectedServerId,
    /// No Server ID in Request/Renew/Release/Decline (§16.4 ...).
    MissingServerId,
    /// Server ID naming another server.
    ForeignServerId,
    /// IA option in an Information-request (§16.12).
    IaInInformationRequest,
    /// Solicit/Confirm/Rebind sent to a unicast address (§16).
    UnicastNotAllowed,
    /// No configured subnet for the client's link.
    NoSubnet,
    /// The lease policy (failover) says another server answers.
    Policy,
    /// Nothing the RFC lets us say (e.g. Confirm without addresses, §18.3.3).
    NothingToSay,
    /// Relay chain too deep.
    RelayTooDeep,
    /// DHCPv4: 'op' is BOOTREPLY, which goes from servers to clients (RFC 2131 §2).
    NotARequest,
    /// DHCPv4: no message type option (53): a BOOTP request, which is not served.
    Bootp,
    /// DHCPv4: no address of the client's link may be offered to it.
    NoAddressAvailable,
    /// DHCPv4: an INIT-REBOOT DHCPREQUEST from a client this server has no record of
    /// (RFC 2131 §4.3.2: "MUST remain silent").
    UnknownClient,
    /// DHCPv4: a DHCPREQUEST in SELECTING or a DHCPDECLINE without option 50
    /// (RFC 2131 §4.3.2, §4.3.3; table 5: MUST).
    MissingRequestedAddress,
}

/// What exactly was wrong with a [`DropReason::Malformed`] datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// tandem-wire could not decode it. `relay_depth` counts the RELAY-FORW messages
    /// around the message that failed (0: the datagram itself); `error.offset` counts
    /// from the first byte of that message.
    Wire {
        relay_depth: usize,
        error: WireError,
    },
    /// An OPTION_CLIENTID whose DUID is not 3..=130 bytes long (RFC 8415 §11), this many.
    ClientIdLength(usize),
}

impl DropReason {
    /// The counter name; stable (metrics and `tandem ctl` show it).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownType => "unknown_type",
            Self::MissingClientId => "missing_client_id",
            Self::UnexpectedServerId => "unexpected_server_id",
            Self::MissingServerId => "missing_server_id",
            Self::ForeignServerId => "foreign_server_id",
            Self::IaInInformationRequest => "ia_in_information_request",
            Self::UnicastNotAllowed => "unicast_not_allowed",
            Self::NoSubnet => "no_subnet_for_link",
            Self::Policy => "policy",
            Self::NothingToSay => "nothing_to_say",
            Self::RelayTooDeep => "relay_too_deep",
            Self::NotARequest => "not_a_request",
            Self::Bootp => "bootp",
            Self::NoAddressAvailable => "no_address_available",
            Self::UnknownClient => "unknown_client",
            Self::MissingRequestedAddress => "missing_requested_address",
        }
    }

    /// The decode error (offset, option, reason) of a datagram tandem-wire rejected.
    pub fn wire_error(&self) -> Option<&WireError> {
        match self {
            Self::Malformed(Malformed::Wire { error, .. }) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed: {m}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wire {
                relay_depth: 0,
                error,
            } => write!(f, "{error}"),
            Self::Wire { relay_depth, error } => {
                write!(
                    f,
                    "{error} (in the message inside {relay_depth} RELAY-FORW)"
                )
            }
            Self::ClientIdLength(n) => write!(
                f,
                "client DUID of {n} bytes (RFC 8415 §11: 2-byte type and 1 to 128 bytes)"
            ),
        }
    }
}

/// A datagram to send: a DHCPv6 reply to an IPv6 address, a DHCPv4 one to an IPv4
/// address (the driver sends each from the socket of its family).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub dest: SocketAddr,
}

/// Everything one `handle` call decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Send only after `changes` are durable.
    pub reply: Option<Reply>,
    /// Lease changes already applied in memory; persist them before sending `reply`.
    pub changes: Vec<LeaseChange>,
    /// Set when no reply is sent because the datagram was dropped.
    pub drop: Option<DropReason>,
    /// Decoded header fields, for logs.
    pub msg_type: Option<u8>,
    /// DHCPv4: the type of `reply` (OFFER, ACK, NAK), for the counters.
    pub reply_type: Option<u8>,
    pub xid: Option<u32>,
    pub client_duid: Option<Duid>,
    pub subnet_id: Option<u32>,
    /// IAs of these kinds got NoAddrsAvail / NoPrefixAvail (RFC 8415 §18.3.2, §18.3.4):
    /// nothing in the subnet's pools could be assigned (for a pair member: nothing this
    /// server may assign). For the pool-exhausted log line.
    pub exhausted: Vec<IaType>,
    /// DHCPv4: probe this address before sending `reply`, an OFFER (RFC 2131 §4.4.1).
    /// No answer within the timeout: send the OFFER. An answer: report it with
    /// [`crate::DhcpServer::address_in_use`] and submit the DHCPDISCOVER again.
    pub probe: Option<crate::dhcpv4::Probe4>,
}

impl Outcome {
    pub(crate) fn dropped(reason: DropReason) -> Self {
        Outcome {
            drop: Some(reason),
            ..Outcome::default()
        }
    }
}
