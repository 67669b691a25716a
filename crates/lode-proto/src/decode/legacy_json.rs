//! Legacy `/api/prom/push` JSON:
//! `{"streams":[{"labels":"{app=\"api\"}","entries":[{"ts":"<RFC3339>","line":"…"}]}]}`.

use serde::Deserialize;

use super::json::json_error;
use crate::error::ProtoError;
use crate::labels::parse_labels;
use crate::{Entry, PushRequest, PushStream};
use lode_go::time::parse_rfc3339_nanos;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    streams: Option<Vec<Stream>>,
}

#[derive(Deserialize)]
struct Stream {
    labels: String,
    #[serde(default)]
    entries: Option<Vec<LegacyEntry>>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    ts: String,
    #[serde(default)]
    line: String,
}

pub fn decode_legacy_json(body: &[u8]) -> Result<PushRequest, ProtoError> {
    let raw: Body = serde_json::from_slice(body).map_err(json_error)?;
    let mut streams = Vec::new();
    for s in raw.streams.unwrap_or_default() {
        let labels = parse_labels(&s.labels)?;
        let entries = s
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let ts = parse_rfc3339_nanos(&e.ts).ok_or_else(|| {
                    ProtoError::Timestamp(format!(
                        "parsing time {}: not an RFC3339 timestamp",
                        lode_go::strconv::quote(&e.ts)
                    ))
                })?;
                Ok(Entry {
                    ts,
                    line: e.line,
                    structured_metadata: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, ProtoError>>()?;
        streams.push(PushStream { labels, entries });
    }
    Ok(PushRequest { streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_legacy_shape() {
        let body = br#"{"streams":[{"labels":"{app=\"api\", job=\"x\"}","entries":[{"ts":"2024-05-01T12:00:00Z","line":"a"},{"ts":"2024-05-01T14:00:00.5+02:00","line":"b"}]}]}"#;
        let req = decode_legacy_json(body).unwrap();
        let st = &req.streams[0];
        assert_eq!(
            st.labels,
            vec![("app".into(), "api".into()), ("job".into(), "x".into())]
        );
        assert_eq!(st.entries[0].ts, 1_714_564_800_000_000_000);
        assert_eq!(st.entries[1].ts, 1_714_564_800_500_000_000);
        assert_eq!(st.entries[1].line, "b");
    }

    #[test]
    fn errors() {
        let e = decode_legacy_json(br#"{"streams":[{"labels":"{app=\"api\"}","entries":[{"ts":"yesterday","line":"a"}]}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"parsing time "yesterday": not an RFC3339 timestamp"#
        );
        assert_eq!(e.status(), 400);
        let e = decode_legacy_json(
            br#"{"streams":[{"labels":"{app=\"api\"}","entries":[{"ts":1714564800,"line":"a"}]}]}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ProtoError::Json(_)), "{e:?}");
        let e = decode_legacy_json(br#"{"streams":[{"labels":"{}","entries":[]}]}"#).unwrap_err();
        assert_eq!(e, ProtoError::MissingLabels);
        assert!(decode_legacy_json(b"{\"streams\":").is_err());
    }
}
