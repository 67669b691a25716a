//! Loki v1 JSON push body:
//! `{"streams":[{"stream":{"app":"api"},"values":[["<ns>","line",{sm}]]}]}`.
//!
//! Hand-written serde visitors decode straight into the model, so no
//! intermediate `serde_json::Value` is built per entry.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::ProtoError;
use crate::labels::{canonicalize, is_valid_label_name, render_labels};
use crate::{Entry, PushRequest, PushStream};

/// Decodes a Loki v1 JSON push body. Timestamps must be JSON strings of
/// integer nanoseconds; the optional third element of a value is either a
/// flat object of string (or number) values or the categorized form
/// `{"structuredMetadata":{…},"parsed":{…}}` (`parsed` is query-side and
/// ignored on push).
pub fn decode_json(body: &[u8]) -> Result<PushRequest, ProtoError> {
    let raw: RawRequest = serde_json::from_slice(body).map_err(json_error)?;
    let mut streams = Vec::with_capacity(raw.0.len());
    for (labels, entries) in raw.0 {
        if let Some((name, _)) = labels.iter().find(|(n, _)| !is_valid_label_name(n)) {
            return Err(ProtoError::LabelParse {
                labels: render_labels(&labels),
                reason: format!("invalid label name {name:?}"),
            });
        }
        streams.push(PushStream {
            labels: canonicalize(labels)?,
            entries,
        });
    }
    Ok(PushRequest { streams })
}

/// Data errors carry our own texts; serde_json appends a position to them,
/// which is dropped to keep the texts stable.
pub(super) fn json_error(e: serde_json::Error) -> ProtoError {
    let text = e.to_string();
    if e.is_data() {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        if let Some(msg) = text.strip_suffix(&suffix) {
            return ProtoError::Json(msg.to_owned());
        }
    }
    ProtoError::Json(text)
}

type Labels = Vec<(String, String)>;

struct RawRequest(Vec<(Labels, Vec<Entry>)>);

impl<'de> de::Deserialize<'de> for RawRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRequest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a push request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawRequest, A::Error> {
                let mut streams = Vec::new();
                while let Some(key) = m.next_key::<KeyName>()? {
                    if key.0 == "streams" {
                        streams = m.next_value::<Streams>()?.0;
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(RawRequest(streams))
            }
        }
        d.deserialize_map(V)
    }
}

/// A map key, borrowed when it has no escapes.
struct KeyName<'a>(std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for KeyName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<KeyName<'de>, E> {
                Ok(KeyName(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyName<'de>, E> {
                Ok(KeyName(v.to_owned().into()))
            }
        }
        d.deserialize_str(V)
    }
}

struct Streams(Vec<(Labels, Vec<Entry>)>);

impl<'de> de::Deserialize<'de> for Streams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Streams;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of streams")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Streams, E> {
                Ok(Streams(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Streams, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0).min(1024));
                while let Some(stream) = s.next_element::<Stream>()? {
                    out.push((stream.labels, stream.entries));
                }
                Ok(Streams(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct Stream {
    labels: Labels,
    entries: Vec<Entry>,
}

impl<'de> de::Deserialize<'de> for Stream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Stream;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a stream object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Stream, A::Error> {
                let mut stream = Stream {
                    labels: Vec::new(),
                    entries: Vec::new(),
                };
                while let Some(key) = m.next_key::<KeyName>()? {
                    match &*key.0 {
                        "stream" => stream.labels = m.next_value::<StringMap>()?.0,
                        "values" => stream.entries = m.next_value::<Values>()?.0,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(stream)
            }
        }
        d.deserialize_map(V)
    }
}

/// `{"name":"value",…}` in document order; values must be strings.
struct StringMap(Labels);

impl<'de> de::Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringMap, E> {
                Ok(StringMap(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StringMap, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = m.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(StringMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct Values(Vec<Entry>);

impl<'de> de::Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Values, E> {
                Ok(Values(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Values, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0).min(4096));
                while let Some(e) = s.next_element::<EntryIn>()? {
                    out.push(e.0);
                }
                Ok(Values(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct EntryIn(Entry);

impl<'de> de::Deserialize<'de> for EntryIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntryIn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [timestamp, line] or [timestamp, line, metadata] array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<EntryIn, A::Error> {
                let ts = s
                    .next_element::<Timestamp>()?
                    .ok_or_else(|| de::Error::custom("value is missing its timestamp"))?
                    .0;
                let line = s
                    .next_element::<String>()?
                    .ok_or_else(|| de::Error::custom("value is missing its log line"))?;
                let mut structured_metadata = Vec::new();
                if s.next_element_seed(Metadata(&mut structured_metadata))?
                    .is_some()
                    && s.next_element::<IgnoredAny>()?.is_some()
                {
                    return Err(de::Error::custom("value has more than 3 elements"));
                }
                Ok(EntryIn(Entry {
                    ts,
                    line,
                    structured_metadata,
                }))
            }
        }
        d.deserialize_seq(V)
    }
}

struct Timestamp(i64);

impl<'de> de::Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string of unix nanoseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                parse_go_int(v).map(Timestamp).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Timestamp, E> {
                Err(E::custom(NUMBER_TS))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Timestamp, E> {
                Err(E::custom(NUMBER_TS))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Timestamp, E> {
                Err(E::custom(NUMBER_TS))
            }
        }
        d.deserialize_any(V)
    }
}

const NUMBER_TS: &str = "timestamp must be a JSON string of unix nanoseconds, not a number";

/// `strconv.ParseInt(s, 10, 64)` with Go's error texts.
fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            lode_go::strconv::quote(s)
        ));
    }
    s.parse::<i64>().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            lode_go::strconv::quote(s)
        )
    })
}

/// Third element of a value: flat metadata or the categorized form.
struct Metadata<'a>(&'a mut Labels);

impl<'de> DeserializeSeed<'de> for Metadata<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Metadata<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a structured metadata object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(key) = m.next_key::<String>()? {
            match m.next_value::<MetaValue>()? {
                MetaValue::Scalar(v) => self.0.push((key, v)),
                MetaValue::Object(pairs) if key == "structuredMetadata" => self.0.extend(pairs),
                MetaValue::Object(_) if key == "parsed" => {}
                MetaValue::Object(_) => {
                    return Err(de::Error::custom(format!(
                        "structured metadata {key:?} must be a string"
                    )))
                }
            }
        }
        Ok(())
    }
}

enum MetaValue {
    Scalar(String),
    Object(Labels),
}

impl<'de> de::Deserialize<'de> for MetaValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MetaValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or object")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MetaValue, E> {
                Ok(MetaValue::Scalar(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MetaValue, E> {
                Ok(MetaValue::Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MetaValue, E> {
                Ok(MetaValue::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MetaValue, E> {
                Ok(MetaValue::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MetaValue, E> {
                Ok(MetaValue::Scalar(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<MetaValue, A::Error> {
                let inner = <StringMap as de::Deserialize>::deserialize(
                    de::value::MapAccessDeserializer::new(m),
                )?;
                Ok(MetaValue::Object(inner.0))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn decodes_values_and_metadata_forms() {
        let body = br#"{"streams":[{"stream":{"app":"api","env":""},"values":[
            ["1712885939000000000","line"],
            ["1712885940000000000","line2",{"trace_id":"abc","n":7}],
            ["3","l3",{"structuredMetadata":{"a":"b"},"parsed":{"x":"y"}}],
            ["-4","esc \"q\" \u00e9",null]]}],"extra":1}"#;
        let req = decode_json(body).unwrap();
        let st = &req.streams[0];
        assert_eq!(st.labels, vec![(s("app"), s("api"))]);
        assert_eq!(
            st.entries[0],
            Entry {
                ts: 1712885939000000000,
                line: s("line"),
                structured_metadata: vec![]
            }
        );
        assert_eq!(
            st.entries[1].structured_metadata,
            vec![(s("trace_id"), s("abc")), (s("n"), s("7"))]
        );
        assert_eq!(st.entries[2].structured_metadata, vec![(s("a"), s("b"))]);
        assert_eq!(st.entries[3].ts, -4);
        assert_eq!(st.entries[3].line, "esc \"q\" é");
    }

    #[test]
    fn empty_and_missing_streams() {
        assert_eq!(decode_json(br#"{}"#).unwrap(), PushRequest::default());
        assert_eq!(
            decode_json(br#"{"streams":[]}"#).unwrap(),
            PushRequest::default()
        );
        assert_eq!(
            decode_json(br#"{"streams":null}"#).unwrap(),
            PushRequest::default()
        );
    }

    #[test]
    fn errors_have_exact_texts() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[[1712885939000000000,"x"]]}]}"#,
                NUMBER_TS,
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["12x","x"]]}]}"#,
                r#"strconv.ParseInt: parsing "12x": invalid syntax"#,
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["","x"]]}]}"#,
                r#"strconv.ParseInt: parsing "": invalid syntax"#,
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["99999999999999999999","x"]]}]}"#,
                r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#,
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
                "value is missing its log line",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[[]]}]}"#,
                "value is missing its timestamp",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},4]]}]}"#,
                "value has more than 3 elements",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":{"a":"b"}}]]}]}"#,
                r#"structured metadata "k" must be a string"#,
            ),
            (
                br#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
                "error at least one label pair is required per stream",
            ),
            (
                br#"{"streams":[{"values":[["1","x"]]}]}"#,
                "error at least one label pair is required per stream",
            ),
            (
                br#"{"streams":[{"stream":{"a-b":"c"},"values":[]}]}"#,
                r#"error parsing labels '{a-b="c"}' with error: invalid label name "a-b""#,
            ),
        ];
        for (body, want) in cases {
            let e = decode_json(body).unwrap_err();
            assert_eq!(e.to_string(), *want, "{}", String::from_utf8_lossy(body));
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn syntax_errors_are_400() {
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"streams\":[{\"stream\":{\"a\":1}}]}",
            b"{\"streams\":[1]}",
            b"nul",
        ] {
            let e = decode_json(body).unwrap_err();
            assert!(matches!(e, ProtoError::Json(_)), "{e:?}");
            assert_eq!(e.status(), 400);
        }
        assert_eq!(
            decode_json(b"{").unwrap_err().to_string(),
            "EOF while parsing an object at line 1 column 1"
        );
    }
}
