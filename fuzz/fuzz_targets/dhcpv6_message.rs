#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::v6::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        assert_eq!(Packet::parse(&p.emit()).as_ref(), Ok(&p));
    }
});
