//! Load balancing (RFC 3074) as the DHCPv4 failover partners use it: the client's key is
//! hashed into one of 256 buckets, and the hash bucket assignment sent in CONNECT
//! (draft-ietf-dhc-failover-12 §12.11) says which server answers that bucket.
//!
//! Lives in tandem-wire because both ends of the wire must compute it bit-identically; the
//! failover layer decides when to apply it (DISCOVERs only, `secs` cut-off, states).

/// RFC 3074 §6 mixing table: a permutation of 0..=255. ISC dhcpd 4.4 uses the same table
/// (its `loadb_mx_tbl`, taken from draft-ietf-dhc-loadb-01, which became RFC 3074).
pub const MIX_TABLE: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60, 152,
    58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243,
    124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97,
    16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67, 207, 9, 178, 204,
    74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25,
    226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241,
    73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84, 82,
    163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118,
    112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66, 231,
    52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171,
    72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136,
    208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// RFC 3074 §6 hash: a Pearson hash seeded with the key length (mod 256), walking the key
/// from its last byte to its first: `h = len; for i = len..1: h = T[h ^ key[i-1]]`.
pub fn bucket(key: &[u8]) -> u8 {
    // The seed is the length truncated to a byte, as in RFC 3074's C code and dhcpd's.
    key.iter()
        .rev()
        .fold(key.len() as u8, |h, &k| MIX_TABLE[usize::from(h ^ k)])
}

/// The key dhcpd hashes (RFC 3074 §3): the whole client-identifier (option 61) value when
/// the client sent one, else `chaddr[..hlen]` (without the hardware type).
pub fn client_key<'a>(client_id: Option<&'a [u8]>, chaddr: &'a [u8]) -> &'a [u8] {
    match client_id {
        Some(id) => id,
        None => chaddr,
    }
}

/// A hash bucket assignment: 256 bits, bucket `b` is bit `b & 7` (least significant first)
/// of byte `b >> 3` (RFC 3074 §5, draft-ietf-dhc-failover-12 §12.11). ISC dhcpd 4.4
/// behaviour: a set bit means the **primary** answers that bucket and the secondary answers
/// the clear ones (the draft's §12.11 gives the set bits to the secondary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hba(pub [u8; 32]);

impl Hba {
    /// dhcpd's `split N` (0..=256; larger values saturate): buckets 0..N-1 are the
    /// primary's. `split 128` = `ff`×16 `00`×16.
    pub fn split(n: u16) -> Self {
        let mut h = [0u8; 32];
        for b in 0..usize::from(n.min(256)) {
            h[b >> 3] |= 1 << (b & 7);
        }
        Hba(h)
    }

    /// A 32-byte slice, else None (a CONNECT with another length is refused with reject
    /// reason 18 by dhcpd).
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(Hba)
    }

    /// True if the primary answers bucket `b`.
    pub fn primary_serves(&self, b: u8) -> bool {
        self.0[usize::from(b >> 3)] & (1 << (b & 7)) != 0
    }

    /// True if the primary answers the client with this key ([`client_key`]).
    pub fn primary_serves_key(&self, key: &[u8]) -> bool {
        self.primary_serves(bucket(key))
    }

    /// Whether the server in this role answers the client with this key.
    pub fn mine(&self, i_am_primary: bool, key: &[u8]) -> bool {
        self.primary_serves_key(key) == i_am_primary
    }
}
