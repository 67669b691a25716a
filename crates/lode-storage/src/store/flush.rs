//! Flush: seals every head into one chunk file per tenant, records the WAL
//! position the files cover in the manifest, and deletes the WAL segments
//! no longer needed.

use crate::error::{Result, StorageError};
use crate::format::chunk_file::{sync_dir, ChunkFile, ChunkWriter};
use crate::format::manifest::FileEntry;
use crate::format::wal::{self};
use crate::sources::{BlockHandle, MemBlock};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::layout::remove_tmp_files;
use crate::layout::{chunk_path, tenant_dir};

impl Inner {
    /// Seals every head and persists all in-memory blocks into chunk files.
    pub(crate) fn flush(&self) -> Result<()> {
        let _f = self.flush_lock.lock();
        type Work = Vec<(
            u32,
            Arc<crate::stored_labels::StoredLabels>,
            Vec<Arc<MemBlock>>,
        )>;
        let (checkpoint, work): (u64, Vec<(String, Work)>) = {
            let _a = self.apply_lock.lock();
            let checkpoint = self.applied_seq.load(Ordering::Acquire);
            let tenants = self.tenant_list();
            let mut work = Vec::new();
            for (name, t) in tenants {
                let mut t = t.write();
                let mut tw: Work = Vec::new();
                for (id, s) in t.streams.iter_mut().enumerate() {
                    self.cut_head(s)?;
                    let mems: Vec<Arc<MemBlock>> = s
                        .blocks
                        .iter()
                        .filter_map(|b| match b {
                            BlockHandle::Mem(m) => Some(m.clone()),
                            BlockHandle::File(..) => None,
                        })
                        .collect();
                    if !mems.is_empty() {
                        tw.push((id as u32, s.labels.clone(), mems));
                    }
                }
                if !tw.is_empty() {
                    work.push((name, tw));
                }
            }
            (checkpoint, work)
        };
        let mut manifest = self.manifest.lock().clone();
        if work.is_empty() && checkpoint <= manifest.checkpoint {
            return Ok(());
        }
        let data = &self.opts.data_dir;
        let mut written = Vec::new();
        let dirs: Vec<PathBuf> = work.iter().map(|(t, _)| tenant_dir(data, t)).collect();
        let write_files = || -> Result<()> {
            for (tenant, tw) in work {
                let dir = tenant_dir(data, &tenant);
                fs::create_dir_all(&dir)
                    .map_err(|e| StorageError::from_io("creating tenant dir", e))?;
                let id = manifest.next_file_id;
                manifest.next_file_id += 1;
                let path = chunk_path(data, &tenant, id);
                let mut w = ChunkWriter::create(&path)?;
                let mut placed = Vec::new();
                for (sid, labels, mems) in &tw {
                    let fs_id = w.stream(labels);
                    for m in mems {
                        w.add_block(
                            fs_id,
                            &m.payload,
                            m.min_ts,
                            m.max_ts,
                            m.entries,
                            m.line_bytes,
                        )?;
                        w.set_filter(&m.filter);
                        placed.push((*sid, m.clone(), (w.block_count() - 1) as u32));
                    }
                }
                w.finish()?;
                sync_dir(&dir)?;
                manifest.files.push(FileEntry {
                    tenant: tenant.clone(),
                    id,
                    zstd_level: None,
                    remote_size: None,
                });
                written.push((tenant, id, path, placed));
            }
            Ok(())
        };
        if let Err(e) = write_files() {
            // Nothing refers to these files yet: free the space now (a full
            // disk must not fill up further with every retry).
            for (_, _, path, _) in &written {
                let _ = fs::remove_file(path);
            }
            remove_tmp_files(&dirs);
            return Err(e);
        }
        manifest.checkpoint = manifest.checkpoint.max(checkpoint);
        manifest.store(data)?;
        *self.manifest.lock() = manifest;
        for (tenant, id, path, placed) in written {
            let mut file = ChunkFile::open(&path, id)?;
            let t = self.tenant_or_create(&tenant);
            let mut t = t.write();
            t.share_labels(&mut file);
            let file = Arc::new(file);
            for (sid, mem, idx) in placed {
                let s = &mut t.streams[sid as usize];
                for b in s.blocks.iter_mut() {
                    if let BlockHandle::Mem(m) = b {
                        if Arc::ptr_eq(m, &mem) {
                            self.unflushed
                                .fetch_sub(mem.payload.len() as u64, Ordering::Relaxed);
                            *b = BlockHandle::File(file.clone(), idx);
                            break;
                        }
                    }
                }
            }
        }
        // The segment being written holds records up to the checkpoint:
        // close it now (instead of at the next push) so it goes at once.
        self.rotate_wal_now();
        wal::remove_covered(&data.join("wal"), self.wal_releasable(checkpoint))?;
        self.notify_upload();
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Asks the writer to start a new WAL segment and waits for it (not at
    /// all once the writer has stopped).
    pub(super) fn rotate_wal_now(&self) {
        let tx = self.writer_tx.lock().clone();
        if let Some(tx) = tx {
            let (done, wait) = mpsc::sync_channel(1);
            if tx.send(WriterMsg::Rotate(done)).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(30));
            }
        }
    }
}
