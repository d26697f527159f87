//! `tandem::logging`: the filter changes while running (`set_level`, used by the
//! configuration reload), a bad level changes nothing, and journald is refused clearly
//! where there is no journal. One global subscriber per process: this file is its own
//! test binary and holds one test.

use tandem::logging::{init, set_level, LogFormat, LogTarget};
use tracing::Level;

#[test]
fn set_level_changes_the_running_filter_and_a_bad_level_changes_nothing() {
    // RUST_LOG would win over log_level; this test is about log_level.
    std::env::remove_var("RUST_LOG");
    init("warn", LogFormat::Json, LogTarget::Stderr).unwrap();
    assert!(tracing::enabled!(Level::WARN));
    assert!(!tracing::enabled!(Level::INFO));
    set_level("debug").unwrap();
    assert!(tracing::enabled!(Level::DEBUG));
    assert!(!tracing::enabled!(Level::TRACE));
    let e = set_level("inf0").unwrap_err().to_string();
    assert!(e.contains("\"inf0\" is not a level"), "{e}");
    assert!(
        tracing::enabled!(Level::DEBUG),
        "the bad level changed nothing"
    );
    set_level("info,tandem::lease=off").unwrap();
    assert!(tracing::enabled!(Level::INFO));
    assert!(!tracing::enabled!(target: "tandem::lease", Level::INFO));
}
