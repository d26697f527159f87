//! Shared by the captured-vector tests.

/// The bytes of `tests/vectors/<name>.hex` (one line of hex, as tests/vectors/README.md says).
pub fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let s = std::fs::read_to_string(path).expect("vector file");
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
