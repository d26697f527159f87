//! What the endpoint keeps on stable storage (RFC 8156 §8.2), and its byte
//! form for the store's meta table.
//!
//! The encoding is `key=value` lines: human-readable in `sqlite3`, tolerant of fields
//! added later (unknown keys are ignored, missing ones take their defaults).

use tandem_core::Time;

use crate::types::ServerState;

/// The persistent state of one failover endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Current state (never STARTUP: STARTUP is not persisted, §8.3).
    pub state: ServerState,
    pub previous: Option<ServerState>,
    /// When `state` was entered.
    pub state_since: Time,
    pub partner_state: Option<ServerState>,
    pub partner_state_since: Option<Time>,
    /// The partner's PARTNER_DOWN_TIME while it reports PARTNER-DOWN.
    pub partner_down_time_of_partner: Option<Time>,
    /// When we entered PARTNER-DOWN (sent as PARTNER_DOWN_TIME, base of the reuse waits).
    pub partner_down_since: Option<Time>,
    /// The last moment we knew the partner to be in PARTNER-DOWN: until then it may have
    /// granted leases without the MCLT bound that we never heard of (RFC 8156 §8.4.1).
    pub partner_pd_until: Option<Time>,
    /// Last time we know we were operating (§8.3.2 step 5 "last recorded time of
    /// operation", and the "time went down" of §8.6.2 after a crash).
    pub last_operation: Time,
    /// We have completed a connection with this partner at least once (SERVER_FLAGS C).
    pub communicated: bool,
    /// The MCLT in force (the primary's configured value; a secondary adopts the primary's).
    pub mclt: u32,
}

impl EndpointRecord {
    pub const META_KEY: &'static str = "failover.endpoint";

    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        let mut put = |k: &str, v: String| {
            s.push_str(k);
            s.push('=');
            s.push_str(&v);
            s.push('\n');
        };
        let st = |x: Option<ServerState>| x.map_or(String::new(), |v| v.as_u8().to_string());
        let tm = |x: Option<Time>| x.map_or(String::new(), |v| v.as_secs().to_string());
        put("state", self.state.as_u8().to_string());
        put("previous", st(self.previous));
        put("state_since", self.state_since.as_secs().to_string());
        put("partner_state", st(self.partner_state));
        put("partner_state_since", tm(self.partner_state_since));
        put(
            "partner_down_time_of_partner",
            tm(self.partner_down_time_of_partner),
        );
        put("partner_down_since", tm(self.partner_down_since));
        put("partner_pd_until", tm(self.partner_pd_until));
        put("last_operation", self.last_operation.as_secs().to_string());
        put("communicated", u8::from(self.communicated).to_string());
        put("mclt", self.mclt.to_string());
        s.into_bytes()
    }

    /// Parses [`Self::encode`]'s output. A record that does not parse is an error the
    /// operator must see (starting as if it were absent could skip a needed recovery).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RecordError("not UTF-8".into()))?;
        let mut r = EndpointRecord {
            state: ServerState::Recover,
            previous: None,
            state_since: Time::ZERO,
            partner_state: None,
            partner_state_since: None,
            partner_down_time_of_partner: None,
            partner_down_since: None,
            partner_pd_until: None,
            last_operation: Time::ZERO,
            communicated: false,
            mclt: 0,
        };
        let mut have_state = false;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| RecordError(format!("line {line:?} has no '='")))?;
            let num = |v: &str| -> Result<Option<u64>, RecordError> {
                if v.is_empty() {
                    return Ok(None);
                }
                v.parse::<u64>()
                    .map(Some)
                    .map_err(|_| RecordError(format!("{k}: {v:?} is not a number")))
            };
            let state = |v: &str| -> Result<Option<ServerState>, RecordError> {
                match num(v)? {
                    None => Ok(None),
                    Some(n) => u8::try_from(n)
                        .ok()
                        .and_then(ServerState::from_u8)
                        .map(Some)
                        .ok_or_else(|| RecordError(format!("{k}: {n} is not a state"))),
                }
            };
            let time = |v: &str| num(v).map(|o| o.map(Time));
            match k {
                "state" => {
                    r.state = state(v)?.ok_or_else(|| RecordError("state is empty".into()))?;
                    have_state = true;
                }
                "previous" => r.previous = state(v)?,
                "state_since" => r.state_since = time(v)?.unwrap_or(Time::ZERO),
                "partner_state" => r.partner_state = state(v)?,
                "partner_state_since" => r.partner_state_since = time(v)?,
                "partner_down_time_of_partner" => r.partner_down_time_of_partner = time(v)?,
                "partner_down_since" => r.partner_down_since = time(v)?,
                "partner_pd_until" => r.partner_pd_until = time(v)?,
                "last_operation" => r.last_operation = time(v)?.unwrap_or(Time::ZERO),
                "communicated" => r.communicated = num(v)? == Some(1),
                "mclt" => {
                    r.mclt = num(v)?
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| RecordError(format!("mclt: {v:?}")))?
                }
                _ => {} // written by a newer version
            }
        }
        if !have_state {
            return Err(RecordError("no state line".into()));
        }
        Ok(r)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored failover endpoint record is unreadable: {0}")]
pub struct RecordError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EndpointRecord {
        EndpointRecord {
            state: ServerState::PartnerDown,
            previous: Some(ServerState::CommunicationsInterrupted),
            state_since: Time(1_700_000_100),
            partner_state: Some(ServerState::CommunicationsInterrupted),
            partner_state_since: Some(Time(1_700_000_000)),
            partner_down_time_of_partner: None,
            partner_down_since: Some(Time(1_700_000_100)),
            partner_pd_until: Some(Time(1_700_000_150)),
            last_operation: Time(1_700_000_200),
            communicated: true,
            mclt: 3600,
        }
    }

    #[test]
    fn round_trip_s8_2() {
        let r = sample();
        assert_eq!(EndpointRecord::decode(&r.encode()), Ok(r));
        let mut none = sample();
        none.previous = None;
        none.partner_state = None;
        none.partner_down_since = None;
        assert_eq!(EndpointRecord::decode(&none.encode()), Ok(none));
    }

    #[test]
    fn damaged_records_are_errors() {
        assert!(EndpointRecord::decode(b"").is_err());
        assert!(EndpointRecord::decode(b"state=99\n").is_err());
        assert!(EndpointRecord::decode(b"state=2\nmclt=x\n").is_err());
        assert!(EndpointRecord::decode(b"garbage").is_err());
        assert!(EndpointRecord::decode(&[0xff, 0xfe]).is_err());
        // Unknown keys from a newer version are fine.
        let mut b = sample().encode();
        b.extend_from_slice(b"future_field=7\n");
        assert_eq!(EndpointRecord::decode(&b), Ok(sample()));
    }
}
