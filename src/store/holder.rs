//! `DIR/holder`: which process holds the ledger open, and where it serves
//! it. sled's file lock says only that some process holds the ledger; this
//! file lets another command say which one at once (instead of waiting and
//! failing with an OS error) and read through that process's server.
//! Written when a ledger opens (atomically: temp file + rename), given the
//! server's URL once it listens, removed on close; a holder left by a
//! process that died is recognised by its pid no longer running.

use serde::{Deserialize, Serialize};
use std::path::Path;

pub const HOLDER_FILE: &str = "holder";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The command line that holds the ledger (`amity serve --addr …`).
    pub command: String,
    /// Where it serves the ledger over HTTP, if it does.
    pub url: Option<String>,
}

impl Holder {
    /// This process.
    pub fn me() -> Holder {
        let mut args = std::env::args();
        let program = args
            .next()
            .map(|p| Path::new(&p).file_name().map_or_else(|| p.clone(), |name| name.to_string_lossy().into_owned()));
        let command = program.into_iter().chain(args).collect::<Vec<_>>().join(" ");
        Holder { pid: std::process::id(), command, url: None }
    }

    pub fn read(dir: &Path) -> Option<Holder> {
        serde_json::from_slice(&std::fs::read(dir.join(HOLDER_FILE)).ok()?).ok()
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let temporary = dir.join(format!("{HOLDER_FILE}.{}", self.pid));
        std::fs::write(&temporary, serde_json::to_vec(self).expect("a holder serializes"))?;
        std::fs::rename(&temporary, dir.join(HOLDER_FILE))
    }

    /// Removes the file if this process wrote it.
    pub fn release(dir: &Path) {
        if Holder::read(dir).is_some_and(|holder| holder.pid == std::process::id()) {
            let _ = std::fs::remove_file(dir.join(HOLDER_FILE));
        }
    }

    /// Whether the process still runs (another process: this one's own
    /// holder is the same process reopening).
    pub fn is_other_and_alive(&self) -> bool {
        if self.pid == std::process::id() {
            return false;
        }
        // SAFETY: kill(2) with signal 0 only checks that the pid exists.
        let result = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }

    /// "process 1234 (`amity serve`), serving http://127.0.0.1:7341".
    pub fn describe(&self) -> String {
        let serving = self.url.as_ref().map(|url| format!(", serving {url}")).unwrap_or_default();
        format!("process {} (`{}`){serving}", self.pid, self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_round_trips_and_only_its_own_process_releases_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut holder = Holder::me();
        holder.url = Some("http://127.0.0.1:1".into());
        holder.write(dir.path()).unwrap();
        assert_eq!(Holder::read(dir.path()), Some(holder.clone()));
        assert!(!holder.is_other_and_alive(), "this process is not another");
        let other = Holder { pid: 1, ..holder.clone() };
        assert!(other.is_other_and_alive(), "pid 1 runs");
        other.write(dir.path()).unwrap();
        Holder::release(dir.path());
        assert_eq!(Holder::read(dir.path()), Some(other), "not ours: kept");
        holder.write(dir.path()).unwrap();
        Holder::release(dir.path());
        assert_eq!(Holder::read(dir.path()), None);
    }
}
