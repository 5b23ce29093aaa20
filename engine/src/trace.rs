//! W3C trace context as an investigation stores it.
//!
//! Only the data: parsing and printing a `traceparent` value. Exporting
//! spans is the binary's business.

/// A W3C `traceparent` (version `00`): trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id; never all zero.
    pub trace_id: [u8; 16],
    /// The parent span id; never all zero.
    pub span_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// The value `text` names, if it is a valid version-`00` traceparent:
    /// lowercase hex, neither id all zero. Anything else is `None`, and a
    /// caller ignores it as the W3C recommendation says (a new trace).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if version != "00"
            || parts.next().is_some()
            || ![trace, span, flags].into_iter().all(lower_hex)
        {
            return None;
        }
        let mut parsed = Self {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex::decode_to_slice(trace, &mut parsed.trace_id).ok()?;
        hex::decode_to_slice(span, &mut parsed.span_id).ok()?;
        let mut f = [0u8; 1];
        hex::decode_to_slice(flags, &mut f).ok()?;
        parsed.flags = f[0];
        (parsed.trace_id != [0; 16] && parsed.span_id != [0; 8]).then_some(parsed)
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn traceparent_round_trips_and_malformed_values_are_refused() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(value).unwrap();
        assert_eq!(parsed.to_string(), value);
        assert_eq!(parsed.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }
}
