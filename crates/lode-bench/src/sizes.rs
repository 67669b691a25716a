//! `lode-bench sizes`: where a data directory's bytes go — block sections
//! (columns, metadata, lines), content filters and each file's index — per
//! line stored, so a change to the format or the compactor can be judged
//! by what it saves.

use crate::procfs::dir_bytes;
use lode_storage::format::block::{section_sizes, SectionSizes, MAX_HEADER_LEN};
use lode_storage::format::chunk_file::ChunkFile;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct Sizes {
    pub files: u64,
    pub blocks: u64,
    pub entries: u64,
    pub sections: SectionSizes,
    pub filters: u64,
    /// Everything of the chunk files that is not a block or a filter: the
    /// stream table, the block index, the footer.
    pub index: u64,
    /// Every file under the directory, chunk files included.
    pub dir: u64,
}

/// Reads every chunk file under `dir`.
pub fn measure(dir: &Path) -> Result<Sizes, String> {
    let mut s = Sizes {
        dir: dir_bytes(dir).0,
        ..Sizes::default()
    };
    let mut files = Vec::new();
    chunk_files(dir, &mut files)?;
    for (i, path) in files.iter().enumerate() {
        let f = ChunkFile::open(path, i as u64).map_err(|e| format!("{}: {e}", path.display()))?;
        s.files += 1;
        let mut in_blocks = 0u64;
        for (bi, b) in f.blocks.iter().enumerate() {
            let head = f
                .read_block_head(bi, MAX_HEADER_LEN)
                .map_err(|e| format!("{}: block {bi}: {e}", path.display()))?;
            let x =
                section_sizes(&head).map_err(|e| format!("{}: block {bi}: {e}", path.display()))?;
            s.sections.header += x.header;
            s.sections.columns += x.columns;
            s.sections.meta += x.meta;
            s.sections.lines += x.lines;
            s.filters += u64::from(b.filter_len);
            s.blocks += 1;
            s.entries += u64::from(b.entries);
            in_blocks += u64::from(b.len) + u64::from(b.filter_len);
        }
        s.index += f.size.saturating_sub(in_blocks);
    }
    Ok(s)
}

/// The chunk files under `dir`, at any depth.
fn chunk_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in rd {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = e.path();
        if path.is_dir() {
            chunk_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "chunk") {
            out.push(path);
        }
    }
    Ok(())
}

/// The report, in bytes per stored entry.
pub fn table(s: &Sizes) -> String {
    let per = |b: u64| b as f64 / s.entries.max(1) as f64;
    let chunk = s.sections.header
        + s.sections.columns
        + s.sections.meta
        + s.sections.lines
        + s.filters
        + s.index;
    let mut out = format!(
        "{} chunk files, {} blocks, {} entries ({:.0} per block)\n\n| part | bytes | B/line |\n|---|---|---|\n",
        s.files,
        s.blocks,
        s.entries,
        s.entries as f64 / s.blocks.max(1) as f64
    );
    for (name, b) in [
        ("line text", s.sections.lines),
        (
            "columns (timestamps, lengths, metadata indexes)",
            s.sections.columns,
        ),
        ("structured metadata", s.sections.meta),
        ("block headers", s.sections.header),
        ("content filters", s.filters),
        ("file index (streams, block table, footer)", s.index),
        ("chunk files", chunk),
        ("whole directory", s.dir),
    ] {
        out.push_str(&format!("| {name} | {b} | {:.2} |\n", per(b)));
    }
    out
}
