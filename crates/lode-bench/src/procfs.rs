//! Server-side resource figures from `/proc`: CPU time, resident memory,
//! the pid listening on a port, and the size of a data directory.

use std::fs;
use std::path::Path;

/// Clock ticks per second for `/proc/<pid>/stat` times. Linux fixes
/// USER_HZ at 100 on every mainstream architecture.
pub const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (1-based) are at 11 and 12 after the name.
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some((ut + st) as f64 / TICKS_PER_SEC)
}

/// (VmRSS, VmHWM) in bytes.
pub fn rss(pid: u32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so the peak
/// of one query can be read afterwards. False when not permitted.
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// The pid of the process listening on TCP `port` (IPv4 or IPv6).
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(s) = fs::read_to_string(table) else {
            continue;
        };
        for l in s.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local_address is "HEXIP:HEXPORT"; state 0A is LISTEN.
            let Some(p) = f.get(1).and_then(|a| a.rsplit(':').next()) else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port) && f.get(3) == Some(&"0A") {
                if let Some(ino) = f.get(9) {
                    inodes.push(format!("socket:[{ino}]"));
                }
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(t) = fs::read_link(fd.path()) {
                if inodes.iter().any(|i| t.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Total size of regular files under `dir`, and the part under
/// subdirectories named `wal` (write-ahead logs are not stored data).
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    fn walk(d: &Path, in_wal: bool, total: &mut u64, wal: &mut u64) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                let w = in_wal || e.file_name().to_str().is_some_and(|n| n == "wal");
                walk(&e.path(), w, total, wal);
            } else if m.is_file() {
                *total += m.len();
                if in_wal {
                    *wal += m.len();
                }
            }
        }
    }
    let (mut t, mut w) = (0, 0);
    walk(dir, false, &mut t, &mut w);
    (t, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_figures() {
        let me = std::process::id();
        assert!(cpu_seconds(me).is_some());
        let (rss, hwm) = rss(me).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }

    #[test]
    fn peak_resets_to_current() {
        let me = std::process::id();
        // 64 MiB touched then freed (glibc unmaps an allocation this large).
        let big = vec![1u8; 64 << 20];
        assert_eq!(big.iter().map(|b| u64::from(*b)).sum::<u64>(), 64 << 20);
        drop(big);
        let (_, before) = rss(me).unwrap();
        if !reset_peak(me) {
            return; // /proc/<pid>/clear_refs not writable here: nothing to check
        }
        let (now, after) = rss(me).unwrap();
        assert!(
            after < before,
            "VmHWM {after} not below {before} after the reset"
        );
        assert!(after >= now.saturating_sub(1 << 20));
    }

    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(pid_listening_on(port), Some(std::process::id()));
    }

    #[test]
    fn sizes_split_wal() {
        let d = std::env::temp_dir().join(format!("lode-bench-du-{}", std::process::id()));
        fs::create_dir_all(d.join("wal")).unwrap();
        fs::write(d.join("a"), [0u8; 10]).unwrap();
        fs::write(d.join("wal").join("b"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(&d), (15, 5));
        fs::remove_dir_all(&d).unwrap();
    }
}
