//! The decoded, validated push model every decoder produces.

/// One push request after decoding and label validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushRequest {
    pub streams: Vec<PushStream>,
}

/// A stream: its label set and its entries in request order (not sorted:
/// shippers may send out-of-order entries and the store decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStream {
    /// Sorted by name, names unique, values non-empty.
    pub labels: Vec<(String, String)>,
    pub entries: Vec<Entry>,
}

/// One log entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub ts: i64,
    pub line: String,
    /// In request order (Loki keeps it so).
    pub structured_metadata: Vec<(String, String)>,
}

impl PushRequest {
    /// Total number of entries over all streams.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
}
