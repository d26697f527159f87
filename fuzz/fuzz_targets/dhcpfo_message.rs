#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::dhcpfo::{take_message, Deframer, Message};

// A TCP byte stream of DHCPv4 failover messages (draft-ietf-dhc-failover-12 as ISC dhcpd
// speaks it): de-frame, decode each, and check that whatever decodes re-encodes to a message
// that decodes to the same thing. The stream de-framer must agree with the slice splitter.
fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut seen = Vec::new();
    loop {
        match take_message(rest) {
            Ok(Some((raw, used))) => {
                match Message::decode(raw) {
                    Ok(d) => {
                        let b = d
                            .message
                            .encode()
                            .expect("a decoded message fits 2048 bytes");
                        assert_eq!(
                            Message::decode(&b).map(|x| x.message).as_ref(),
                            Ok(&d.message)
                        );
                        seen.push(Ok(d.message));
                    }
                    Err(e) => {
                        seen.push(Err(e));
                        break;
                    }
                }
                rest = &rest[used..];
            }
            Ok(None) => break,
            Err(e) => {
                seen.push(Err(e));
                break;
            }
        }
    }
    let mut f = Deframer::new();
    f.push(data);
    let mut again = Vec::new();
    loop {
        match f.next_message() {
            Ok(Some(d)) => again.push(Ok(d.message)),
            Ok(None) => break,
            Err(e) => {
                again.push(Err(e));
                break;
            }
        }
    }
    assert_eq!(again, seen);
});
