#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::failover::{decode_frame, FailoverMessage, MAX_FRAME_LEN};

// A byte stream of frames: decode each, parse, and check the round trip.
fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((payload, used))) = decode_frame(rest, MAX_FRAME_LEN) {
        if let Ok(m) = FailoverMessage::parse(payload) {
            assert_eq!(FailoverMessage::parse(&m.emit()).as_ref(), Ok(&m));
        }
        rest = &rest[used..];
    }
});
