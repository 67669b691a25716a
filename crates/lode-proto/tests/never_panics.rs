//! Decoders take untrusted bytes: whatever arrives, they return, never panic.

use lode_proto::{
    decode_body, decode_json, decode_legacy_json, decode_protobuf, detect_level, parse_labels,
    validate_tenant,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn protobuf_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_protobuf(&body);
    }

    #[test]
    fn protobuf_random_payload_in_valid_snappy(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let _ = decode_protobuf(&body);
    }

    #[test]
    fn json_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_json(&body);
        let _ = decode_legacy_json(&body);
    }

    #[test]
    fn json_shaped_noise(body in r#"\{"streams":\[\{"stream":\{"[a-z_]{0,3}":"[a-z\\"]{0,3}"\},"values":\[\[("[0-9-]{0,4}"|[0-9]{1,3}),"[^"\\]{0,8}"(,\{"[a-z]{0,3}":("[a-z]{0,2}"|[0-9]|\{\}|null)\})?\]\]\}\]\}"#) {
        let _ = decode_json(body.as_bytes());
    }

    #[test]
    fn body_dispatch(body in proptest::collection::vec(any::<u8>(), 0..256), json in any::<bool>(), enc in 0usize..5) {
        let ct = json.then_some("application/json");
        let enc = [None, Some("snappy"), Some("gzip"), Some("deflate"), Some("zstd")][enc];
        let _ = decode_body(ct, enc, &body);
    }

    #[test]
    fn labels_and_tenants(s in "\\PC{0,40}", t in r#"[{}a-z="\\ ,'`\\\\u0-9!]{0,24}"#) {
        let _ = parse_labels(&s);
        let _ = parse_labels(&t);
        let _ = validate_tenant(&s);
    }

    #[test]
    fn level_detection(line in "\\PC{0,80}", shaped in r#"[{}a-z="\\ ,:\[\]0-9]{0,40}"#) {
        let _ = detect_level(&[], &[], &line);
        let _ = detect_level(&[], &[], &shaped);
        let _ = detect_level(&[], &[], &format!("{{{shaped}}}"));
    }
}
