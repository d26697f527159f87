//! Failover options (draft-ietf-dhc-failover-12 §6.2, §12): two-byte code, two-byte length,
//! value. Codes are the draft-12 numbering, which ISC dhcpd 4.4 uses; value types and sizes
//! are dhcpd's (`ft_options` in its `stables.c`), which differ from the draft in two places
//! (IP-flags, TLS-request; see the constants).

use super::message::MsgType;

/// Option codes (draft-ietf-dhc-failover-12 §12.1–§12.29).
pub mod code {
    /// §12.1, u32.
    pub const ADDRESSES_TRANSFERRED: u16 = 1;
    /// §12.2, IPv4 address.
    pub const ASSIGNED_IP_ADDRESS: u16 = 2;
    /// §12.3, u8.
    pub const BINDING_STATUS: u16 = 3;
    /// §12.4, bytes (the client's option 61 value).
    pub const CLIENT_IDENTIFIER: u16 = 4;
    /// §12.5, bytes: hardware type, then the hardware address.
    pub const CLIENT_HARDWARE_ADDRESS: u16 = 5;
    /// §12.6, u32 time.
    pub const CLIENT_LAST_TRANSACTION_TIME: u16 = 6;
    /// §12.7, bytes (DHCP options).
    pub const CLIENT_REPLY_OPTIONS: u16 = 7;
    /// §12.8, bytes (DHCP options).
    pub const CLIENT_REQUEST_OPTIONS: u16 = 8;
    /// §12.9: 2 bytes of flags, then the FQDN.
    pub const DDNS: u16 = 9;
    /// §12.10, u8.
    pub const DELAYED_SERVICE_PARAMETER: u16 = 10;
    /// §12.11, 32 bytes in every CONNECT.
    pub const HASH_BUCKET_ASSIGNMENT: u16 = 11;
    /// §12.12. ISC dhcpd 4.4 behaviour: u16 (the draft's figure shows one byte).
    pub const IP_FLAGS: u16 = 12;
    /// §12.13, u32 time.
    pub const LEASE_EXPIRATION_TIME: u16 = 13;
    /// §12.14, u32.
    pub const MAX_UNACKED_BNDUPD: u16 = 14;
    /// §12.15, u32 seconds.
    pub const MCLT: u16 = 15;
    /// §12.16, text.
    pub const MESSAGE: u16 = 16;
    /// §12.17; must be the last option. ISC dhcpd 4.4 skips it unchecked and never sends it.
    pub const MESSAGE_DIGEST: u16 = 17;
    /// §12.18, u32 time.
    pub const POTENTIAL_EXPIRATION_TIME: u16 = 18;
    /// §12.19, u32 seconds.
    pub const RECEIVE_TIMER: u16 = 19;
    /// §12.20, u8.
    pub const PROTOCOL_VERSION: u16 = 20;
    /// §12.21, u8.
    pub const REJECT_REASON: u16 = 21;
    /// §12.22, bytes.
    pub const RELATIONSHIP_NAME: u16 = 22;
    /// §12.23, u8.
    pub const SERVER_FLAGS: u16 = 23;
    /// §12.24, u8.
    pub const SERVER_STATE: u16 = 24;
    /// §12.25, u32 time.
    pub const START_TIME_OF_STATE: u16 = 25;
    /// §12.26, u8.
    pub const TLS_REPLY: u16 = 26;
    /// §12.27, u8 (ISC dhcpd 4.4 behaviour: one byte, as draft-12 says; 3.0.x sent two).
    pub const TLS_REQUEST: u16 = 27;
    /// §12.28, bytes.
    pub const VENDOR_CLASS_IDENTIFIER: u16 = 28;
    /// §12.29, bytes.
    pub const VENDOR_SPECIFIC_OPTIONS: u16 = 29;
    /// Highest code ISC dhcpd 4.4 knows; anything above is skipped as unknown.
    pub const MAX: u16 = VENDOR_SPECIFIC_OPTIONS;
}

/// What a known option's value must look like (dhcpd's `ft_options` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly this many bytes (u8, u16, u32, IPv4 address).
    Fixed(usize),
    /// At least this many bytes (DDNS: 2 bytes of flags, then a name).
    AtLeast(usize),
    /// Any length, including 0.
    Bytes,
}

/// The shape of option `code`, or None for a code dhcpd does not know (0, or above 29).
pub fn shape(code: u16) -> Option<Shape> {
    use code::*;
    Some(match code {
        BINDING_STATUS
        | DELAYED_SERVICE_PARAMETER
        | PROTOCOL_VERSION
        | REJECT_REASON
        | SERVER_FLAGS
        | SERVER_STATE
        | TLS_REPLY
        | TLS_REQUEST => Shape::Fixed(1),
        IP_FLAGS => Shape::Fixed(2),
        ADDRESSES_TRANSFERRED
        | ASSIGNED_IP_ADDRESS
        | CLIENT_LAST_TRANSACTION_TIME
        | LEASE_EXPIRATION_TIME
        | MAX_UNACKED_BNDUPD
        | MCLT
        | POTENTIAL_EXPIRATION_TIME
        | RECEIVE_TIMER
        | START_TIME_OF_STATE => Shape::Fixed(4),
        DDNS => Shape::AtLeast(2),
        CLIENT_IDENTIFIER
        | CLIENT_HARDWARE_ADDRESS
        | CLIENT_REPLY_OPTIONS
        | CLIENT_REQUEST_OPTIONS
        | HASH_BUCKET_ASSIGNMENT
        | MESSAGE
        | MESSAGE_DIGEST
        | RELATIONSHIP_NAME
        | VENDOR_CLASS_IDENTIFIER
        | VENDOR_SPECIFIC_OPTIONS => Shape::Bytes,
        _ => return None,
    })
}

const fn bits(codes: &[u16]) -> u32 {
    let mut m = 0u32;
    let mut i = 0;
    while i < codes.len() {
        m |= 1 << codes[i];
        i += 1;
    }
    m
}

use code::*;
const BINDING: &[u16] = &[
    ASSIGNED_IP_ADDRESS,
    BINDING_STATUS,
    CLIENT_IDENTIFIER,
    CLIENT_HARDWARE_ADDRESS,
    DDNS,
    IP_FLAGS,
    LEASE_EXPIRATION_TIME,
    POTENTIAL_EXPIRATION_TIME,
    START_TIME_OF_STATE,
    CLIENT_LAST_TRANSACTION_TIME,
    CLIENT_REQUEST_OPTIONS,
    CLIENT_REPLY_OPTIONS,
];

/// The options each message type keeps, as a bit mask over option codes (ISC dhcpd 4.4
/// behaviour, its `fto_allowed` table; it follows the per-message tables of
/// draft-ietf-dhc-failover-12 §7.1–§7.13 except that it drops what it never uses:
/// delayed-service and vendor-specific options are kept for no message type). An option
/// outside the mask is skipped on receive, without any length or repeat check.
pub fn allowed(t: MsgType) -> u32 {
    const BNDUPD: u32 = bits(BINDING);
    match t {
        MsgType::PoolReq => 0,
        MsgType::PoolResp => bits(&[ADDRESSES_TRANSFERRED]),
        MsgType::BndUpd => BNDUPD,
        MsgType::BndAck => BNDUPD | bits(&[REJECT_REASON, MESSAGE]),
        MsgType::Connect => bits(&[
            RELATIONSHIP_NAME,
            MAX_UNACKED_BNDUPD,
            RECEIVE_TIMER,
            VENDOR_CLASS_IDENTIFIER,
            PROTOCOL_VERSION,
            TLS_REQUEST,
            MCLT,
            HASH_BUCKET_ASSIGNMENT,
        ]),
        MsgType::ConnectAck => bits(&[
            RELATIONSHIP_NAME,
            MAX_UNACKED_BNDUPD,
            RECEIVE_TIMER,
            VENDOR_CLASS_IDENTIFIER,
            PROTOCOL_VERSION,
            TLS_REPLY,
            REJECT_REASON,
            MESSAGE,
        ]),
        MsgType::UpdReqAll | MsgType::UpdDone | MsgType::UpdReq => 0,
        MsgType::State => bits(&[SERVER_STATE, SERVER_FLAGS, START_TIME_OF_STATE]),
        MsgType::Contact => 0,
        MsgType::Disconnect => bits(&[REJECT_REASON, MESSAGE]),
    }
}

/// True if `t` keeps option `code` (see [`allowed`]).
pub fn is_allowed(t: MsgType, code: u16) -> bool {
    code < 32 && allowed(t) & (1 << code) != 0
}

macro_rules! u8_values {
    ($(#[$doc:meta])* $name:ident { $($(#[$m:meta])* $c:ident = $v:expr => $s:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub u8);
        impl $name {
            $($(#[$m])* pub const $c: $name = $name($v);)*
            /// One of the values defined above.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
            /// The name used in logs (dhcpd's spelling), or None for an undefined value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
    };
}

u8_values!(
    /// binding-status (draft-ietf-dhc-failover-12 §12.3). The raw byte is kept, so an
    /// undefined value decodes and the failover layer can refuse it in a BNDACK.
    BindingStatus {
        FREE = 1 => "free",
        ACTIVE = 2 => "active",
        EXPIRED = 3 => "expired",
        RELEASED = 4 => "released",
        ABANDONED = 5 => "abandoned",
        RESET = 6 => "reset",
        BACKUP = 7 => "backup",
    }
);

u8_values!(
    /// server-state (draft-ietf-dhc-failover-12 §12.24). ISC dhcpd 4.4 behaviour: it also
    /// sends RECOVER-WAIT, which the draft (§9.6) describes but does not number, as 254.
    ServerState {
        UNKNOWN = 0 => "unknown-state",
        STARTUP = 1 => "startup",
        NORMAL = 2 => "normal",
        COMMUNICATIONS_INTERRUPTED = 3 => "communications-interrupted",
        PARTNER_DOWN = 4 => "partner-down",
        POTENTIAL_CONFLICT = 5 => "potential-conflict",
        RECOVER = 6 => "recover",
        PAUSED = 7 => "paused",
        SHUTDOWN = 8 => "shutdown",
        RECOVER_DONE = 9 => "recover-done",
        RESOLUTION_INTERRUPTED = 10 => "resolution-interrupted",
        CONFLICT_DONE = 11 => "conflict-done",
        RECOVER_WAIT = 254 => "recover-wait",
    }
);

u8_values!(
    /// reject-reason (draft-ietf-dhc-failover-12 §12.21 table). ISC dhcpd 4.4 behaviour:
    /// an HBA that is not 32 bytes is refused with 18, the table's number (§7.8.2 says 19).
    RejectReason {
        ILLEGAL_IP_ADDR = 1 => "Illegal IP address (not part of any address pool)",
        FATAL_CONFLICT = 2 => "Fatal conflict exists: address in use by other client",
        MISSING_BINDINFO = 3 => "Missing binding information",
        TIME_MISMATCH = 4 => "Connection rejected, time mismatch too great",
        INVALID_MCLT = 5 => "Connection rejected, invalid MCLT",
        MISC_REJECT = 6 => "Connection rejected, unknown reason",
        DUP_CONNECTION = 7 => "Connection rejected, duplicate connection",
        INVALID_PARTNER = 8 => "Connection rejected, invalid failover partner",
        TLS_UNSUPPORTED = 9 => "TLS not supported",
        TLS_UNCONFIGURED = 10 => "TLS supported but not configured",
        TLS_REQUIRED = 11 => "TLS required but not supported by partner",
        DIGEST_UNSUPPORTED = 12 => "Message digest not supported",
        DIGEST_UNCONFIGURED = 13 => "Message digest not configured",
        VERSION_MISMATCH = 14 => "Protocol version mismatch",
        OUTDATED_BIND_INFO = 15 => "Outdated binding information",
        LESS_CRIT_BIND_INFO = 16 => "Less critical binding information",
        NO_TRAFFIC = 17 => "No traffic within sufficient time",
        HBA_CONFLICT = 18 => "Hash bucket assignment conflict",
        IP_NOT_RESERVED = 19 => "IP not reserved on this server",
        IP_DIGEST_FAILURE = 20 => "Message digest failed to compare",
        IP_MISSING_DIGEST = 21 => "Missing message digest",
        UNKNOWN = 254 => "Unknown: Error occurred but does not match any reason",
    }
);

/// server-flags (draft-ietf-dhc-failover-12 §12.23); other bits are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServerFlags(pub u8);
impl ServerFlags {
    /// The sender is in STARTUP; the state it sends is the one it will return to.
    pub const STARTUP: u8 = 0x01;
    pub fn startup(self) -> bool {
        self.0 & Self::STARTUP != 0
    }
}

/// IP-flags (draft-ietf-dhc-failover-12 §12.12). ISC dhcpd 4.4 behaviour: two bytes on the
/// wire (its `FT_UINT16`), sent only when non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IpFlags(pub u16);
impl IpFlags {
    /// The address is reserved (a fixed assignment).
    pub const RESERVED: u16 = 0x0001;
    /// The binding was made by BOOTP.
    pub const BOOTP: u16 = 0x0002;
    pub fn reserved(self) -> bool {
        self.0 & Self::RESERVED != 0
    }
    pub fn bootp(self) -> bool {
        self.0 & Self::BOOTP != 0
    }
}

/// DDNS (draft-ietf-dhc-failover-12 §12.9): 2 bytes of flags, then the client's FQDN.
/// ISC dhcpd 4.4 never sends it ("support appears to be incomplete"); kept for decoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ddns {
    /// C 0x0001, A 0x0002, D 0x0004, P 0x0008 (dhcpd's `FTF_DDNS_*`).
    pub flags: u16,
    pub name: Vec<u8>,
}

/// One option dropped by the decoder, kept for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub code: u16,
    /// Offset of its code field from the start of the message (its length field).
    pub offset: usize,
    /// Length of its value.
    pub len: usize,
    pub why: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Code 0 or above [`code::MAX`] (draft-ietf-dhc-failover-12 §6.1: ignore what you do
    /// not understand).
    Unknown,
    /// A known option this message type does not keep ([`allowed`]).
    NotAllowed,
    /// A message digest (last option); ISC dhcpd 4.4 skips it unverified.
    Digest,
}
