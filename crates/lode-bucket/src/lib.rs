//! Lode's object storage client. Everything the storage layer does with a
//! bucket — ranged reads, whole-object reads, uploads, lists, deletes — as
//! blocking calls, because Lode's storage work runs on its own threads
//! (flusher, compactor, uploader, query threads). The `object_store` crate
//! does the S3 protocol; its futures run on one small runtime owned here.
//!
//! Objects are immutable once written (Lode never rewrites a chunk object
//! in place), so [`RangeCache`] entries never go stale.

mod cache;
mod config;
mod error;

pub use cache::{RangeCache, RangeKey};
pub use config::BucketConfig;
pub use error::{BucketError, Result};

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests and bytes, for `/metrics`.
#[derive(Debug, Default)]
pub struct BucketCounters {
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// Ranges at most this far apart are fetched as one request (the gap is
/// read and dropped), up to `MAX_RUN` bytes a request.
const RUN_GAP: u64 = 256 << 10;
const MAX_RUN: u64 = 8 << 20;

/// Sorted ranges grouped into runs: ((start, end), the ranges in it).
type Run = ((u64, u64), Vec<(u64, u64)>);

fn coalesce(sorted: &[(u64, u64)]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for &(o, l) in sorted {
        let end = o.saturating_add(l);
        match runs.last_mut() {
            Some(((s, e), parts)) if o <= e.saturating_add(RUN_GAP) && end - *s <= MAX_RUN => {
                *e = (*e).max(end);
                parts.push((o, l));
            }
            _ => runs.push(((o, end), vec![(o, l)])),
        }
    }
    runs
}

/// Parts of an upload sent at once, and their size.
const UPLOAD_PART: usize = 8 << 20;
const UPLOAD_CONCURRENCY: usize = 4;

/// A bucket, shared by every thread of the process.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    /// A description for logs and errors (`s3://bucket` or `memory`).
    name: String,
    pub cache: RangeCache,
    pub counters: BucketCounters,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("name", &self.name).finish()
    }
}

impl Bucket {
    /// An S3-compatible bucket. Credentials and region left empty in
    /// `cfg` come from the AWS environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, ...).
    pub fn s3(cfg: &BucketConfig, cache_bytes: usize) -> Result<Bucket> {
        use object_store::aws::AmazonS3Builder;
        if cfg.bucket.is_empty() {
            return Err(BucketError::Config(
                "no bucket name (common.storage.s3.bucketnames)".into(),
            ));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&cfg.bucket);
        if let Some(url) = cfg.endpoint_url() {
            b = b.with_endpoint(url);
        }
        if !cfg.region.is_empty() {
            b = b.with_region(&cfg.region);
        }
        if !cfg.access_key_id.is_empty() {
            b = b.with_access_key_id(&cfg.access_key_id);
        }
        if !cfg.secret_access_key.is_empty() {
            b = b.with_secret_access_key(&cfg.secret_access_key);
        }
        let timeout = if cfg.request_timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            cfg.request_timeout
        };
        let opts = object_store::ClientOptions::new()
            .with_allow_http(cfg.insecure || cfg.endpoint.starts_with("http://"))
            .with_timeout(timeout)
            .with_connect_timeout(Duration::from_secs(5));
        // Lode's own loops retry uploads and feeds with backoff; a query
        // waiting on an unreachable store should hear so within seconds.
        let retry = object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: timeout,
            ..Default::default()
        };
        let store = b
            .with_virtual_hosted_style_request(!cfg.force_path_style)
            .with_client_options(opts)
            .with_retry(retry)
            .build()
            .map_err(|e| BucketError::Config(e.to_string()))?;
        Bucket::with_store(Arc::new(store), format!("s3://{}", cfg.bucket), cache_bytes)
    }

    /// A bucket held in memory (tests).
    pub fn in_memory(cache_bytes: usize) -> Result<Bucket> {
        Bucket::with_store(
            Arc::new(object_store::memory::InMemory::new()),
            "memory".into(),
            cache_bytes,
        )
    }

    fn with_store(store: Arc<dyn ObjectStore>, name: String, cache_bytes: usize) -> Result<Bucket> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lode-bucket")
            .enable_all()
            .build()
            .map_err(|e| BucketError::Config(format!("starting the bucket runtime: {e}")))?;
        Ok(Bucket {
            store,
            rt,
            name,
            cache: RangeCache::new(cache_bytes),
            counters: BucketCounters::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on the bucket's runtime and waits for it (from any thread
    /// that is not itself a runtime worker).
    fn run<T: Send + 'static>(
        &self,
        key: &str,
        f: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        let r = rx
            .recv()
            .map_err(|_| BucketError::Unavailable("the bucket runtime stopped".into()))?;
        r.map_err(|e| {
            if !matches!(e, object_store::Error::NotFound { .. }) {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
            }
            BucketError::from_store(key, e)
        })
    }

    /// A whole object.
    pub fn get(&self, key: &str) -> Result<Bytes> {
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        let b = self.run(key, async move { store.get(&path).await?.bytes().await })?;
        self.counters
            .bytes_read
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b)
    }

    /// `len` bytes of an object from `offset`.
    pub fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes> {
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        let end = offset
            .checked_add(len)
            .ok_or_else(|| BucketError::Config("range past u64".into()))?;
        let b = self.run(
            key,
            async move { store.get_range(&path, offset..end).await },
        )?;
        if b.len() as u64 != len {
            return Err(BucketError::Unavailable(format!(
                "{key}: asked for {len} bytes at {offset}, got {}",
                b.len()
            )));
        }
        self.counters
            .bytes_read
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b)
    }

    /// [`Bucket::get_range`] through the range cache.
    pub fn get_range_cached(&self, key: &Arc<str>, offset: u64, len: u64) -> Result<Bytes> {
        let k: RangeKey = (key.clone(), offset, len);
        if let Some(b) = self.cache.get(&k) {
            return Ok(b);
        }
        let b = self.get_range(key, offset, len)?;
        self.cache.insert(k, b.clone());
        Ok(b)
    }

    /// Fetches the ranges not cached yet into the cache (a query about to
    /// read many blocks of one object): ranges close together are fetched
    /// as one request and split, and up to 8 requests are in flight.
    pub fn prefetch(&self, key: &Arc<str>, ranges: &[(u64, u64)]) -> Result<()> {
        let mut missing: Vec<(u64, u64)> = ranges
            .iter()
            .copied()
            .filter(|&(o, l)| self.cache.get(&(key.clone(), o, l)).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let runs = coalesce(&missing);
        let store = self.store.clone();
        let path = ObjectPath::from(key.as_ref());
        let spans: Vec<(u64, u64)> = runs.iter().map(|r| r.0).collect();
        let got: Vec<Bytes> = self.run(key, async move {
            let futs = spans.into_iter().map(|(o, end)| {
                let (store, path) = (store.clone(), path.clone());
                async move { store.get_range(&path, o..end).await }
            });
            let all: Vec<object_store::Result<Bytes>> =
                futures::stream::iter(futs).buffered(8).collect().await;
            all.into_iter().collect()
        })?;
        for (((start, end), parts), b) in runs.into_iter().zip(got) {
            self.counters
                .bytes_read
                .fetch_add(b.len() as u64, Ordering::Relaxed);
            if b.len() as u64 != end - start {
                continue;
            }
            for (o, l) in parts {
                let at = (o - start) as usize;
                self.cache
                    .insert((key.clone(), o, l), b.slice(at..at + l as usize));
            }
        }
        Ok(())
    }

    /// Writes a whole object (replacing it).
    pub fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let n = body.len() as u64;
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        self.run(key, async move {
            store.put(&path, PutPayload::from(body)).await.map(|_| ())
        })?;
        self.counters.bytes_written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Uploads a local file, in parts for large ones (memory stays at a
    /// few parts whatever the file's size). The object appears whole or
    /// not at all.
    pub fn put_file(&self, key: &str, path: &std::path::Path) -> Result<u64> {
        use std::io::Read;
        let local = |e| BucketError::Local {
            path: path.display().to_string(),
            source: e,
        };
        let mut f = std::fs::File::open(path).map_err(local)?;
        let size = f.metadata().map_err(local)?.len();
        if size <= UPLOAD_PART as u64 {
            let mut buf = Vec::with_capacity(size as usize);
            f.read_to_end(&mut buf).map_err(local)?;
            self.put(key, Bytes::from(buf))?;
            return Ok(size);
        }
        let store = self.store.clone();
        let opath = ObjectPath::from(key);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(UPLOAD_CONCURRENCY);
        let upload = self.rt.spawn(async move {
            let up = store.put_multipart(&opath).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(up, UPLOAD_PART);
            while let Some(part) = rx.recv().await {
                w.wait_for_capacity(UPLOAD_CONCURRENCY).await?;
                w.write(&part);
            }
            w.finish().await.map(|_| ())
        });
        let mut sent = 0u64;
        while sent < size {
            let mut part = vec![0u8; UPLOAD_PART.min((size - sent) as usize)];
            f.read_exact(&mut part).map_err(local)?;
            sent += part.len() as u64;
            if tx.blocking_send(Bytes::from(part)).is_err() {
                break;
            }
        }
        drop(tx);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let r = self
            .rt
            .block_on(upload)
            .map_err(|e| BucketError::Unavailable(format!("{key}: upload task: {e}")))?;
        r.map_err(|e| {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            BucketError::from_store(key, e)
        })?;
        self.counters
            .bytes_written
            .fetch_add(size, Ordering::Relaxed);
        Ok(size)
    }

    /// An object with its entity tag (for [`Bucket::put_if`]).
    pub fn get_versioned(&self, key: &str) -> Result<(Bytes, Option<String>)> {
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        self.run(key, async move {
            let r = store.get(&path).await?;
            let tag = r.meta.e_tag.clone();
            Ok((r.bytes().await?, tag))
        })
    }

    /// Writes `body` only if the object is absent (`None`) or still has the
    /// entity tag `expected`; [`BucketError::Conflict`] when someone else
    /// wrote first. Returns the new tag. This is what makes a lease safe:
    /// of two writers racing, one gets the conflict.
    pub fn put_if(
        &self,
        key: &str,
        body: Bytes,
        expected: Option<String>,
    ) -> Result<Option<String>> {
        use object_store::{PutMode, PutOptions, UpdateVersion};
        let mode = match expected {
            None => PutMode::Create,
            Some(e_tag) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag),
                version: None,
            }),
        };
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        self.run(key, async move {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            store
                .put_opts(&path, PutPayload::from(body), opts)
                .await
                .map(|r| r.e_tag)
        })
    }

    /// Deletes an object; one that is already gone is fine.
    pub fn delete(&self, key: &str) -> Result<()> {
        let store = self.store.clone();
        let path = ObjectPath::from(key);
        match self.run(key, async move { store.delete(&path).await }) {
            Ok(()) | Err(BucketError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with the path `prefix` (a "directory":
    /// `writers/` lists everything under it).
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let store = self.store.clone();
        let p = ObjectPath::from(prefix.trim_end_matches('/'));
        self.run(prefix, async move {
            let mut out = Vec::new();
            let mut s = store.list(Some(&p));
            while let Some(m) = s.next().await {
                let m = m?;
                out.push(ObjectInfo {
                    key: m.location.to_string(),
                    size: m.size,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_range_list_delete_round_trip() {
        let b = Bucket::in_memory(1 << 20).unwrap();
        b.put("writers/a/MANIFEST.json", Bytes::from_static(b"{}"))
            .unwrap();
        b.put("writers/a/x.chunk", Bytes::from_static(b"0123456789"))
            .unwrap();
        assert_eq!(&b.get_range("writers/a/x.chunk", 2, 3).unwrap()[..], b"234");
        let key: Arc<str> = Arc::from("writers/a/x.chunk");
        assert_eq!(&b.get_range_cached(&key, 0, 4).unwrap()[..], b"0123");
        assert_eq!(&b.get_range_cached(&key, 0, 4).unwrap()[..], b"0123");
        assert_eq!(b.cache.hits.load(Ordering::Relaxed), 1);
        let mut keys: Vec<String> = b
            .list("writers/")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        assert_eq!(keys, ["writers/a/MANIFEST.json", "writers/a/x.chunk"]);
        b.delete("writers/a/x.chunk").unwrap();
        b.delete("writers/a/x.chunk").unwrap();
        assert!(matches!(
            b.get("writers/a/x.chunk"),
            Err(BucketError::NotFound(_))
        ));
        assert!(
            b.get_range("writers/a/MANIFEST.json", 1, 5).is_err(),
            "short ranges are errors"
        );
    }

    #[test]
    fn close_ranges_are_fetched_together_and_split_exactly() {
        let runs = coalesce(&[(0, 10), (10, 5), (100, 10), (RUN_GAP * 4, 1)]);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], ((0, 110), vec![(0, 10), (10, 5), (100, 10)]));
        let b = Bucket::in_memory(1 << 20).unwrap();
        let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        b.put("o", Bytes::from(body.clone())).unwrap();
        let key: Arc<str> = Arc::from("o");
        b.prefetch(&key, &[(3, 7), (20, 5), (4000, 96)]).unwrap();
        let requests = b.counters.requests.load(Ordering::Relaxed);
        assert_eq!(&b.get_range_cached(&key, 20, 5).unwrap()[..], &body[20..25]);
        assert_eq!(
            &b.get_range_cached(&key, 4000, 96).unwrap()[..],
            &body[4000..]
        );
        assert_eq!(
            b.counters.requests.load(Ordering::Relaxed),
            requests,
            "all from the cache"
        );
    }

    #[test]
    fn conditional_puts_let_one_of_two_writers_win() {
        let b = Bucket::in_memory(0).unwrap();
        let t1 = b.put_if("lease", Bytes::from_static(b"a"), None).unwrap();
        assert!(matches!(
            b.put_if("lease", Bytes::from_static(b"b"), None),
            Err(BucketError::Conflict(_))
        ));
        let (body, tag) = b.get_versioned("lease").unwrap();
        assert_eq!((&body[..], &tag), (&b"a"[..], &t1));
        b.put_if("lease", Bytes::from_static(b"c"), tag.clone())
            .unwrap();
        assert!(
            matches!(
                b.put_if("lease", Bytes::from_static(b"d"), tag),
                Err(BucketError::Conflict(_))
            ),
            "a stale tag loses"
        );
    }

    #[test]
    fn large_files_upload_in_parts_and_read_back_whole() {
        let b = Bucket::in_memory(0).unwrap();
        let dir = std::env::temp_dir().join(format!("lode-bucket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big");
        let body: Vec<u8> = (0..(UPLOAD_PART * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, &body).unwrap();
        assert_eq!(b.put_file("big", &p).unwrap(), body.len() as u64);
        assert_eq!(&b.get("big").unwrap()[..], &body[..]);
        let key: Arc<str> = Arc::from("big");
        b.prefetch(&key, &[(0, 10), (UPLOAD_PART as u64, 10)])
            .unwrap();
        assert_eq!(b.cache.bytes(), 0, "a zero-byte cache keeps nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
