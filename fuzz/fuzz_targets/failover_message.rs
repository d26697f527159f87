#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::failover::FailoverMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = FailoverMessage::parse(data) {
        assert_eq!(FailoverMessage::parse(&m.emit()).as_ref(), Ok(&m));
    }
});
