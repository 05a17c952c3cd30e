//! Signed file links of Delta Sharing and what dap remembers about them.
//!
//! A link is `<prefix>/files/<token>`; the token is signed with the cursor key (purpose
//! [`LINK_PURPOSE`]) and binds the caller (subject and municipality), the dataset, the
//! version, the data file, the visible columns, the size and the expiry. It also carries
//! what the caller holds in that municipality ([`LinkCaller`]: roles, data constraints,
//! assurance level, client and datasets), so any replica that shares the cursor key can
//! derive the link's scope again and serve it: clients fetch links without a credential
//! (they are pre-signed, as the protocol intends), and a load balancer sends each fetch
//! wherever it likes. The scope is derived as it is now (the catalogue, the policy, a
//! revoked personal token or machine client) and must show what the link was issued
//! under, or the link is refused.
//!
//! Why a cache: a client reads a link with several range requests, while the answer to
//! the query must already state each file's size. So the query makes each file once and
//! keeps, per link and within a byte budget, the file: a spliced file's description (its
//! footer and the ranges of the table's file it copies: kilobytes, whatever the file's
//! size), or an encoded file's bytes (a constrained caller's rows). A fetch this replica
//! has no file for (evicted, or a query another replica answered) makes it again: making
//! is deterministic, and the size in the token is checked before anything is served. The
//! cache also keeps the caller of a link too long to carry it (see [`FileLink::p`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use dap_auth::{CallerKind, ConstraintSet, Principal};
use dap_lake::files::FileBody;
use dap_schema::{MunicipalityCode, NsisLevel};
use serde::{Deserialize, Serialize};

/// What signed file links are signed for.
pub const LINK_PURPOSE: &str = "delta-sharing-file";
/// How long a file link is valid.
pub const LINK_LIFETIME_SECS: i64 = 15 * 60;
/// The longest link token dap signs with the caller in it (and the longest it verifies):
/// URLs of a few kilobytes pass every proxy and client.
pub const MAX_LINK_TOKEN: usize = crate::app::cursor::MAX_SIGNED_LEN;
/// Links remembered at most (oldest forgotten first).
const MAX_LINKS: usize = 20_000;
/// Bytes of files kept at most (what they hold in memory); beyond it the oldest links'
/// files are dropped.
const MAX_BYTES: usize = 256 * 1024 * 1024;
/// Bytes of files kept at most on local disk (large made files); beyond it the oldest
/// links' files are dropped (and their disk space freed once no download reads them).
const MAX_STORED: u64 = 4 * 1024 * 1024 * 1024;

/// What a file link's token says (short keys: it travels in a URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLink {
    /// Random id of this link.
    pub n: String,
    /// Dataset id.
    pub d: String,
    /// Table version (the caller's, as the query reported it).
    pub v: u64,
    /// The table version whose files the query listed (see
    /// [`dap_lake::files::PartitionFiles::read`]); absent for change files, and in
    /// links signed before dap carried it (then `v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<u64>,
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
    /// What the caller holds in municipality `m`. Absent when it would make the link
    /// longer than [`MAX_LINK_TOKEN`] (a caller with very many data constraints), and in
    /// links signed before dap carried it: such a link is served by the replica that
    /// issued it, or on a credential of its caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<LinkCaller>,
}

/// The caller a link was issued to, as far as the link's municipality goes: what a
/// replica needs to derive the link's scope (with the link's subject, issuer and
/// municipality). Nothing of the caller's other municipalities travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCaller {
    /// Kind of caller.
    pub k: CallerKind,
    /// Roles held in the municipality.
    pub r: BTreeSet<String>,
    /// Data constraints per role there (see [`Principal::constraints`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub q: BTreeMap<String, Vec<ConstraintSet>>,
    /// Assurance level of the authentication.
    pub a: NsisLevel,
    /// OAuth client id, or the personal token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<String>,
    /// Datasets the credential is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<BTreeSet<String>>,
}

impl LinkCaller {
    /// What `principal` holds in `municipality`; `None` when it holds no role there.
    pub fn of(principal: &Principal, municipality: &MunicipalityCode) -> Option<Self> {
        Some(Self {
            k: principal.kind,
            r: principal.grants.get(municipality)?.clone(),
            q: principal
                .constraints
                .get(municipality)
                .cloned()
                .unwrap_or_default(),
            a: principal.nsis,
            o: principal.client_id.clone(),
            t: principal.datasets.clone(),
        })
    }

    /// The caller `link` was issued to, acting for the link's municipality only.
    pub fn principal(&self, link: &FileLink) -> Option<Principal> {
        let municipality = MunicipalityCode::parse(&link.m).ok()?;
        let mut principal = Principal::from_grants(
            link.s.clone(),
            link.i.clone(),
            self.k,
            BTreeMap::from([(municipality.clone(), self.r.clone())]),
            self.a,
        );
        principal.client_id = self.o.clone();
        principal.datasets = self.t.clone();
        if !self.q.is_empty() {
            principal.constraints = BTreeMap::from([(municipality, self.q.clone())]);
        }
        Some(principal)
    }
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
    /// What the remembered files hold in memory.
    bytes: usize,
    /// What they keep on local disk.
    stored: u64,
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
        links.count(entry.body.as_ref(), true);
        if let Some(old) = links.entries.insert(id.clone(), entry) {
            links.count(old.body.as_ref(), false);
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
                links.count(old.body.as_ref(), false);
            }
        }
        let mut i = 0;
        while (links.bytes > MAX_BYTES || links.stored > MAX_STORED) && i < links.order.len() {
            let id = links.order[i].clone();
            if let Some(body) = links.entries.get_mut(&id).and_then(|e| e.body.take()) {
                links.count(Some(&body), false);
            }
            i += 1;
        }
    }

    /// The bytes the remembered links' files hold in memory.
    pub fn held_bytes(&self) -> usize {
        self.links.lock().map_or(0, |links| links.bytes)
    }

    /// The bytes the remembered links' files keep on local disk.
    pub fn stored_bytes(&self) -> u64 {
        self.links.lock().map_or(0, |links| links.stored)
    }

    /// Forgets every link, as a replica that did not answer their queries knows none
    /// (it makes their files again when they are fetched, for the caller the link
    /// carries).
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

    /// Counts a file that is now remembered (`kept`) or no longer.
    fn count(&mut self, body: Option<&FileBody>, kept: bool) {
        let Some(body) = body else { return };
        if kept {
            self.bytes += body.held();
            self.stored += body.stored();
        } else {
            self.bytes -= body.held();
            self.stored -= body.stored();
        }
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
    fn a_link_carries_the_caller_in_its_municipality_and_nothing_else() {
        let code = |c: &str| MunicipalityCode::parse(c).expect("code");
        let mut anna = Principal::from_grants(
            "anna".into(),
            "https://broker".into(),
            CallerKind::User,
            BTreeMap::from([
                (code("0101"), BTreeSet::from(["laes-oekonomi".to_owned()])),
                (code("0751"), BTreeSet::from(["laes-personale".to_owned()])),
            ]),
            NsisLevel::Substantial,
        );
        anna.client_id = Some("pat-1".into());
        anna.datasets = Some(BTreeSet::from(["personale.fravaer".to_owned()]));
        let units = ConstraintSet::from([("org".to_owned(), BTreeSet::from(["u1".to_owned()]))]);
        anna.constraints = BTreeMap::from([
            (
                code("0751"),
                BTreeMap::from([("laes-personale".to_owned(), vec![units])]),
            ),
            (code("0101"), BTreeMap::new()),
        ]);
        anna.organisations = BTreeMap::from([("29189129".to_owned(), BTreeSet::new())]);
        let carried = LinkCaller::of(&anna, &code("0751")).expect("holds a role there");
        let link = FileLink {
            n: "n".into(),
            d: "personale.fravaer".into(),
            v: 3,
            r: Some(4),
            f: "part-0.parquet".into(),
            x: false,
            s: "anna".into(),
            i: "https://broker".into(),
            m: "0751".into(),
            c: "digest".into(),
            z: 10,
            e: 0,
            p: Some(carried.clone()),
        };
        let token = serde_json::to_string(&link).expect("json");
        assert!(!token.contains("0101") && !token.contains("laes-oekonomi"));
        let back: FileLink = serde_json::from_str(&token).expect("back");
        assert_eq!(back, link);
        let restored = carried.principal(&link).expect("principal");
        let mut narrowed = anna.narrowed_to(&code("0751")).expect("narrowed");
        narrowed.organisations.clear();
        assert_eq!(
            serde_json::to_value(&restored).expect("json"),
            serde_json::to_value(&narrowed).expect("json")
        );
        assert!(LinkCaller::of(&anna, &code("0250")).is_none());
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
