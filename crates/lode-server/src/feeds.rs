//! Readers' side of the writers' feeds (`docs/storage.md`, "Scalable
//! mode"): the writers named in `scalable.writers`, each name resolved
//! again on every poll (a headless Service lists every writer pod), asked
//! over HTTP for the records after what the reader holds.

use crate::routes::feed::{
    APPLIED_HEADER, INCARNATION_HEADER, LAST_SEQ_HEADER, UPLOADED_HEADER, WRITER_HEADER,
};
use lode_storage::{FeedPage, FeedReply, FeedSource, StorageError};
use std::net::ToSocketAddrs;
use std::time::Duration;

/// A page is at most `max_bytes` plus one record; one record is at most a
/// push (100 MiB body, decompressed within the push budget).
const MAX_BODY: u64 = 1 << 30;

pub struct HttpFeeds {
    writers: Vec<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpFeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFeeds")
            .field("writers", &self.writers)
            .finish()
    }
}

impl HttpFeeds {
    pub fn new(writers: Vec<String>, timeout: Duration) -> HttpFeeds {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        HttpFeeds { writers, agent }
    }
}

/// `http://name:port/x` → one URL per address `name` resolves to (the URL
/// itself when it does not resolve: asking it then reports why).
fn expand(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_string()];
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    };
    match with_port.to_socket_addrs() {
        Ok(addrs) => {
            let mut out: Vec<String> = addrs.map(|a| format!("{scheme}://{a}{path}")).collect();
            out.sort();
            out.dedup();
            if out.is_empty() {
                vec![url.to_string()]
            } else {
                out
            }
        }
        Err(_) => vec![url.to_string()],
    }
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn number(r: &ureq::http::Response<ureq::Body>, name: &str) -> Result<u64, StorageError> {
    header(r, name)
        .parse()
        .map_err(|_| StorageError::Unavailable(format!("feed answer without a valid {name}")))
}

impl FeedSource for HttpFeeds {
    fn writers(&self) -> Vec<String> {
        let mut all: Vec<String> = self.writers.iter().flat_map(|w| expand(w)).collect();
        all.sort();
        all.dedup();
        all
    }

    fn fetch(&self, url: &str, after: u64, max_bytes: usize) -> Result<FeedReply, StorageError> {
        let unavailable = |e: String| StorageError::Unavailable(format!("feed {url}: {e}"));
        let mut r = self
            .agent
            .get(format!("{url}/lode/internal/v1/feed"))
            .query("after", after.to_string())
            .query("max_bytes", max_bytes.to_string())
            .header("User-Agent", concat!("lode/", env!("CARGO_PKG_VERSION")))
            .call()
            .map_err(|e| unavailable(e.to_string()))?;
        let writer_id = header(&r, WRITER_HEADER);
        let incarnation = header(&r, INCARNATION_HEADER);
        let page = match r.status().as_u16() {
            200 => {
                let last_seq = number(&r, LAST_SEQ_HEADER)?;
                let applied = number(&r, APPLIED_HEADER)?;
                let frames = r
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY)
                    .read_to_vec()
                    .map_err(|e| unavailable(e.to_string()))?;
                FeedPage::Records {
                    frames,
                    last_seq,
                    applied,
                }
            }
            410 => FeedPage::Gone {
                uploaded: number(&r, UPLOADED_HEADER)?,
            },
            s => return Err(unavailable(format!("HTTP {s}"))),
        };
        Ok(FeedReply {
            writer_id,
            incarnation,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expand_to_every_address_and_literals_stay() {
        assert_eq!(expand("http://127.0.0.1:3100"), ["http://127.0.0.1:3100"]);
        assert_eq!(expand("http://127.0.0.1:3100/"), ["http://127.0.0.1:3100"]);
        let local = expand("http://localhost:3100");
        assert!(local.iter().all(|u| u.ends_with(":3100")), "{local:?}");
        assert_eq!(
            expand("http://no-such-host.invalid:3100"),
            ["http://no-such-host.invalid:3100"]
        );
    }
}
