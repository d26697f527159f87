#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::v6::{Packet, RelayChain};

// Unwraps whole relay chains (bounded by HOP_COUNT_LIMIT) and re-wraps a reply.
fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        assert_eq!(Packet::parse(&p.emit()).as_ref(), Ok(&p));
        if let Ok(chain) = RelayChain::unwrap(p) {
            let wrapped = chain.wrap_reply(&chain.message);
            let again = RelayChain::unwrap(Packet::parse(&wrapped.emit()).unwrap());
            assert!(again.is_err() || chain.hops.is_empty());
        }
    }
});
