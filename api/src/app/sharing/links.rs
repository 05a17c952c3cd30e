//! Signed file links of Delta Sharing and what dap remembers about them.
//!
//! A link is `<prefix>/files/<token>`; the token is signed with the cursor key (purpose
//! [`LINK_PURPOSE`]) and binds the caller (subject and municipality), the dataset, the
//! version, the data file, the visible columns, the size and the expiry.
//!
//! Why a cache: clients fetch links without a credential (they are pre-signed, as the
//! protocol intends) and read them with several range requests, while the answer to the
//! query must already state each file's size. So the query makes each file once and
//! keeps, per link, the caller it was issued to and (within a byte budget) the file: a
//! spliced file's description (its footer and the ranges of the table's file it copies:
//! kilobytes, whatever the file's size), or an encoded file's bytes (a constrained
//! caller's rows). A fetch whose file was evicted makes it again: making is
//! deterministic, and the size in the token is checked before anything is served. A
//! link this replica does not know is refused unless the request carries the issuing
//! caller's own credential (then dap re-derives the scope from it).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_lake::files::FileBody;
use serde::{Deserialize, Serialize};

/// What signed file links are signed for.
pub const LINK_PURPOSE: &str = "delta-sharing-file";
/// How long a file link is valid.
pub const LINK_LIFETIME_SECS: i64 = 15 * 60;
/// Links remembered at most (oldest forgotten first).
const MAX_LINKS: usize = 20_000;
/// Bytes of files kept at most (what they hold in memory); beyond it the oldest links'
/// files are dropped.
const MAX_BYTES: usize = 256 * 1024 * 1024;

/// What a file link's token says (short keys: it travels in a URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLink {
    /// Random id of this link.
    pub n: String,
    /// Dataset id.
    pub d: String,
    /// Table version.
    pub v: u64,
    /// The data file, relative to the table root (empty for a change file).
    pub f: String,
    /// A change file: the caller's changed rows of commit `v` (change data feed).
    #[serde(default)]
    pub x: bool,
    /// Subject it was issued to.
    pub s: String,
    /// Issuer of that subject's credential.
    pub i: String,
    /// Municipality it was issued for.
    pub m: String,
    /// Digest of the visible columns and row constraints it was issued under.
    pub c: String,
    /// Size in bytes of what it serves.
    pub z: u64,
    /// Expiry, seconds since the epoch.
    pub e: i64,
}

impl FileLink {
    /// When the link expires.
    pub fn expires(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.e, 0).unwrap_or_default()
    }
}

/// What this replica remembers of one link.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub principal: Principal,
    pub expires: i64,
    pub rows: u64,
    pub body: Option<FileBody>,
}

#[derive(Debug, Default)]
struct Links {
    entries: HashMap<String, Remembered>,
    order: VecDeque<String>,
    bytes: usize,
}

/// The sharing surface's settings and remembered links.
#[derive(Debug)]
pub struct Sharing {
    /// Where the protocol is served, e.g. `/delta-sharing` (no trailing slash).
    pub prefix: String,
    links: Mutex<Links>,
}

impl Sharing {
    /// Sharing served under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: format!("/{}", prefix.trim_matches('/')),
            links: Mutex::new(Links::default()),
        }
    }

    /// Remembers a link issued now.
    pub(crate) fn remember(&self, id: String, entry: Remembered) {
        let Ok(mut links) = self.links.lock() else {
            return;
        };
        let now = Utc::now().timestamp();
        links.bytes += entry.body.as_ref().map_or(0, FileBody::held);
        if let Some(old) = links.entries.insert(id.clone(), entry) {
            links.bytes -= old.body.as_ref().map_or(0, FileBody::held);
        }
        links.order.push_back(id);
        // Forget expired links and, beyond the bounds, the oldest.
        while let Some(oldest) = links.order.front().cloned() {
            let expired = links.entries.get(&oldest).is_none_or(|e| e.expires < now);
            if !expired && links.order.len() <= MAX_LINKS {
                break;
            }
            links.order.pop_front();
            if let Some(old) = links.entries.remove(&oldest) {
                links.bytes -= old.body.as_ref().map_or(0, FileBody::held);
            }
        }
        let mut i = 0;
        while links.bytes > MAX_BYTES && i < links.order.len() {
            let id = links.order[i].clone();
            if let Some(entry) = links.entries.get_mut(&id)
                && let Some(body) = entry.body.take()
            {
                links.bytes -= body.held();
            }
            i += 1;
        }
    }

    /// The bytes the remembered links' files hold in memory.
    pub fn held_bytes(&self) -> usize {
        self.links.lock().map_or(0, |links| links.bytes)
    }

    /// Forgets every link, as a replica that did not answer their queries knows none
    /// (their callers then fetch with their own credential).
    pub fn forget_all(&self) {
        if let Ok(mut links) = self.links.lock() {
            *links = Links::default();
        }
    }

    /// What this replica remembers of link `id`, if anything.
    pub(crate) fn recall(&self, id: &str) -> Option<Remembered> {
        self.links.lock().ok()?.get_entry(id)
    }
}

impl Links {
    fn get_entry(&self, id: &str) -> Option<Remembered> {
        self.entries.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: usize, expires: i64) -> Remembered {
        Remembered {
            principal: Principal::from_grants(
                "anna".into(),
                "issuer".into(),
                dap_auth::CallerKind::User,
                Default::default(),
                dap_schema::NsisLevel::Substantial,
            ),
            expires,
            rows: 1,
            body: Some(FileBody::Made(vec![0; bytes].into())),
        }
    }

    #[test]
    fn links_are_forgotten_when_expired_and_bytes_stay_within_the_budget() {
        let sharing = Sharing::new("delta-sharing/");
        assert_eq!(sharing.prefix, "/delta-sharing");
        let later = Utc::now().timestamp() + 60;
        sharing.remember("old".into(), entry(10, Utc::now().timestamp() - 1));
        sharing.remember("a".into(), entry(MAX_BYTES / 2 + 1, later));
        assert!(
            sharing.recall("old").is_none(),
            "expired links are forgotten"
        );
        sharing.remember("b".into(), entry(MAX_BYTES / 2 + 1, later));
        let a = sharing.recall("a").expect("a is remembered");
        assert!(a.body.is_none(), "the oldest bytes go first");
        assert!(sharing.recall("b").and_then(|b| b.body).is_some());
    }
}
