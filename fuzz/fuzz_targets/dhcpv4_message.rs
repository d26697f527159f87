#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wire::v4::{Message, MessageType, OptionsExt};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let out = m.emit();
        assert_eq!(out.len(), m.emitted_len());
        // Byte for byte, unless overload (which is not re-emitted) was used.
        if m.overload.is_none() {
            assert_eq!(out, data);
        }
        let again = Message::parse(&out).expect("re-emitted message parses");
        assert_eq!(again.options, m.options);
        let _ = (m.relay_agent_info(), m.classless_routes(), m.host_name());
        let _ = m.reply(MessageType::Ack).build().emit();
    }
});
