//! LEB128 varints and a bounds-checked reader: every length read from disk
//! is checked against the bytes actually present.

use crate::error::StorageError;

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over untrusted bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn corrupt(what: &str) -> StorageError {
        StorageError::Corrupt(format!("truncated or invalid {what}"))
    }

    pub fn uvarint(&mut self) -> Result<u64, StorageError> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| Self::corrupt("varint"))?;
            self.pos += 1;
            if shift >= 64 {
                return Err(Self::corrupt("varint"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    pub fn ivarint(&mut self) -> Result<i64, StorageError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub fn len_prefixed(&mut self) -> Result<&'a [u8], StorageError> {
        let n = self.uvarint()? as usize;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str, StorageError> {
        let b = self.len_prefixed()?;
        std::str::from_utf8(b).map_err(|_| Self::corrupt("utf-8 string"))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| Self::corrupt("length"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| Self::corrupt("length"))?;
        self.pos = end;
        Ok(s)
    }

    pub fn u32_le(&mut self) -> Result<u32, StorageError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64_le(&mut self) -> Result<u64, StorageError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_ivarint(&mut b, i);
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.uvarint().unwrap(), u);
            prop_assert_eq!(r.ivarint().unwrap(), i);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn reader_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&b);
            let _ = r.uvarint();
            let _ = r.len_prefixed();
            let _ = r.str();
        }
    }
}
