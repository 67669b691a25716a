//! FNV-1a: a cheap, stable 64-bit hash for recognising exact re-sends and
//! naming delete requests (not for anything adversarial).

pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::fnv1a(*b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a(*b"a"), 0xaf63dc4c8601ec8c);
    }
}
