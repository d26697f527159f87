//! Typed flag views. Raw values (including MBZ bits) are what the options carry, so that
//! a round trip never loses bits; these helpers only interpret them (codes.md flag table).

macro_rules! flags {
    ($name:ident, $t:ty, $mbz:expr, { $($(#[$m:meta])* $f:ident = $v:expr),* }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$m])* pub const $f: $t = $v;)*
            /// Bits that must be zero (RFC 8156 §5.5); receivers ignore them.
            pub const MBZ: $t = $mbz;
            pub fn has(self, bit: $t) -> bool { self.0 & bit != 0 }
            pub fn with(self, bit: $t, on: bool) -> Self {
                if on { $name(self.0 | bit) } else { $name(self.0 & !bit) }
            }
            pub fn mbz_bits(self) -> $t { self.0 & Self::MBZ }
        }
    };
}

flags!(ConnectFlags, u16, 0xFFFE, { FIXED_PD_LENGTH = 0x0001 });
flags!(DnsFlags, u16, 0xFFF0, {
    USING_REQUESTED_FQDN = 0x0008, SYNTHESIZED_NAME = 0x0004, REV_UPTODATE = 0x0002, FWD_UPTODATE = 0x0001
});
flags!(ServerFlags, u8, 0xF8, { ACK_STARTUP = 0x04, STARTUP = 0x02, COMMUNICATED = 0x01 });
