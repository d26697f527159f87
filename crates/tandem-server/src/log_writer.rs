//! The stderr writer of the log: one `write(2)` per held group of lines instead of one per
//! line.
//!
//! The lease log ([`crate::lease_log`]) writes a line per lease once its batch is durable;
//! a group commit makes many durable at once, and a system call per line cost the packet
//! thread about a microsecond per lease (bench/README.md). [`hold`] gathers the lines
//! written on this thread until the returned guard drops, then writes them with one
//! `write_all`, in order. Outside a hold every line goes straight out, as before, so a
//! warning is never delayed.
//!
//! Lines are held only for the length of one synchronous call (no `.await` can happen
//! inside a hold), so nothing is kept across a wait and a line is at most one batch late.

use std::cell::RefCell;
use std::io::{self, Write};

thread_local! {
    static HELD: RefCell<Held> = const { RefCell::new(Held { depth: 0, buf: Vec::new() }) };
}

struct Held {
    /// Nested holds: only the outermost writes.
    depth: u32,
    /// Kept between holds so its capacity is reused.
    buf: Vec<u8>,
}

/// The log's writer (`fmt::layer().with_writer(|| HeldStderr)`): appends to the current
/// hold, or writes to stderr when nothing is held.
pub struct HeldStderr;

impl Write for HeldStderr {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let held = HELD.with(|h| {
            let mut h = h.borrow_mut();
            if h.depth > 0 {
                h.buf.extend_from_slice(b);
                true
            } else {
                false
            }
        });
        if held {
            Ok(b.len())
        } else {
            io::stderr().write(b)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Holds this thread's log lines until the guard drops (also on a panic).
#[must_use = "the lines are written when the guard drops"]
pub struct Hold {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Starts holding this thread's log lines; see the module doc.
pub fn hold() -> Hold {
    HELD.with(|h| h.borrow_mut().depth += 1);
    Hold {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        release_into(&mut io::stderr());
    }
}

/// Ends one hold; the outermost writes what was held to `out` in one `write_all`.
fn release_into(out: &mut dyn Write) {
    let lines = HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.depth = h.depth.saturating_sub(1);
        (h.depth == 0 && !h.buf.is_empty()).then(|| std::mem::take(&mut h.buf))
    });
    if let Some(mut lines) = lines {
        // A log that cannot be written must not stop the server (stderr closed, disk full).
        let _ = out.write_all(&lines);
        lines.clear();
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if h.buf.is_empty() {
                h.buf = lines;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts `write` calls, as the kernel would see them.
    #[derive(Default)]
    struct Calls {
        writes: usize,
        bytes: Vec<u8>,
    }

    impl Write for Calls {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.bytes.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn start() {
        HELD.with(|h| h.borrow_mut().depth += 1);
    }

    #[test]
    fn lines_written_during_a_hold_leave_in_one_write_in_their_order() {
        let mut out = Calls::default();
        start();
        for i in 0..100 {
            HeldStderr
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert_eq!(out.writes, 0, "nothing leaves while held");
        release_into(&mut out);
        assert_eq!(out.writes, 1, "one write for the whole hold");
        let text = String::from_utf8(out.bytes).unwrap();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_nested_hold_writes_only_when_the_outermost_ends() {
        let mut out = Calls::default();
        start();
        start();
        HeldStderr.write_all(b"a\n").unwrap();
        release_into(&mut out);
        assert_eq!(out.writes, 0);
        HeldStderr.write_all(b"b\n").unwrap();
        release_into(&mut out);
        assert_eq!((out.writes, out.bytes.as_slice()), (1, &b"a\nb\n"[..]));
        // Nothing is left held afterwards: the next hold starts empty.
        start();
        release_into(&mut out);
        assert_eq!(out.writes, 1);
    }

    #[test]
    fn the_guard_ends_the_hold_even_when_the_holder_panics() {
        let r = std::panic::catch_unwind(|| {
            let _g = hold();
            panic!("inside a hold");
        });
        assert!(r.is_err());
        assert_eq!(HELD.with(|h| h.borrow().depth), 0);
    }
}
