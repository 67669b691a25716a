//! The `regexp` parser: named capture groups become labels.

use regex::{CaptureLocations, Regex};

use super::builder::{sanitize_into, LabelBuf};
use super::line_filter::compile_regex;
use crate::error::{Error, Result};
use crate::labels::LabelSet;

#[derive(Debug, Clone)]
pub(crate) struct RegexpParser {
    re: Regex,
    /// (group index, sanitised label name)
    names: Vec<(usize, String)>,
}

impl RegexpParser {
    pub(crate) fn new(src: &str) -> Result<Self> {
        let re = compile_regex(src)?;
        let names: Vec<(usize, String)> = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| {
                n.map(|n| {
                    let mut s = String::new();
                    sanitize_into(n, &mut s);
                    (i, s)
                })
            })
            .collect();
        if names.is_empty() {
            return Err(Error::Invalid(
                "at least one named capture must be supplied".to_string(),
            ));
        }
        Ok(RegexpParser { re, names })
    }

    /// Locations buffer for `parse`, one per stream runner.
    pub(crate) fn locations(&self) -> CaptureLocations {
        self.re.capture_locations()
    }

    pub(crate) fn parse(
        &self,
        line: &str,
        locs: &mut CaptureLocations,
        stream: &LabelSet,
        labels: &mut LabelBuf,
    ) {
        if self.re.captures_read(locs, line).is_none() {
            return;
        }
        for (i, name) in &self.names {
            if let Some((a, b)) = locs.get(*i) {
                labels.add_parsed(stream, name, &line[a..b]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_groups() {
        let p = RegexpParser::new(r"^(?P<ip>\S+) (\w+) (?P<status>\d{3})?").unwrap();
        let stream = LabelSet::from_pairs([("ip", "stream")]);
        let mut b = LabelBuf::default();
        b.reset(&stream, &[]);
        let mut locs = p.locations();
        p.parse("1.2.3.4 GET x", &mut locs, &stream, &mut b);
        assert_eq!(b.get("ip_extracted"), Some("1.2.3.4"));
        assert_eq!(b.get("status"), None);
        p.parse("5.6.7.8 GET 404", &mut locs, &stream, &mut b);
        assert_eq!(b.get("status"), Some("404"));
        assert!(RegexpParser::new(r"(\d+)").is_err());
        assert!(RegexpParser::new(r"(?P<a>").is_err());
    }
}
