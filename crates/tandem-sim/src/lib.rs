//! tandem-sim: deterministic simulations of a tandem pair (two failover cores, simulated
//! clients, a network that cuts and reorders, a store that crashes).
//!
//! Not written yet: it needs the RFC 8156 endpoint state machine in tandem-failover first.
