//! A table's files for one caller, and serving one of them.
//!
//! One file action per data file of the caller's municipality partition at the version
//! asked for (files whose admitted rows are none are left out). What a link returns is
//! that file's rows under the caller's scope (their municipality, their data
//! constraints) with their visible columns, as Parquet made by the lake
//! ([`dap_lake::Lake::scoped_file`]: spliced from the file's column chunks, or encoded);
//! its size and record count are those of that very file, known when the query is
//! answered.

use chrono::{DateTime, Utc};
use dap_auth::Principal;
use dap_lake::files::FileBody;
use dap_schema::AccessScope;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::links::{
    FileLink, LINK_LIFETIME_SECS, LINK_PURPOSE, LinkCaller, MAX_LINK_TOKEN, Remembered,
};
use super::{TableMetadata, TableRef, metadata_of, stable_id};
use crate::app::{AppError, AuditFacts, Core};

/// What a query asks for.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    /// Table version; the latest when absent.
    pub version: Option<u64>,
    /// The version current at this instant.
    pub timestamp: Option<DateTime<Utc>>,
    /// Files may stop once this many rows are listed (a hint: more may be returned).
    pub limit_hint: Option<u64>,
}

/// One file as the protocol lists it.
#[derive(Debug, Clone)]
pub struct FileAction {
    /// A signed link back to dap.
    pub url: String,
    /// Stable id of the file's content for this caller.
    pub id: String,
    pub size: u64,
    pub num_records: u64,
    /// When the link expires (milliseconds since the epoch).
    pub expiration_timestamp: i64,
}

/// A table's metadata and files for the caller at one version.
#[derive(Debug, Clone)]
pub struct TableFiles {
    pub metadata: TableMetadata,
    pub files: Vec<FileAction>,
}

/// What a served file link returns: the file, read by range with
/// [`dap_lake::Lake::read_file`].
#[derive(Debug, Clone)]
pub struct ServedFile {
    pub body: FileBody,
}

/// Digest of what the scope shows: visible columns and row constraints. A link issued
/// under one view is refused under another (e.g. after a role was withdrawn).
fn view_digest(scope: &AccessScope) -> String {
    let view = format!(
        "{}|{:?}",
        scope.visible_columns().join(","),
        scope.row_constraints()
    );
    let digest = Sha256::digest(view.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn nonce() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn invalid_link() -> AppError {
    AppError::Forbidden(
        "this file link is not valid: it was altered, has expired or belongs to someone else; query the table again for fresh links"
            .into(),
    )
}

/// True when `link` was issued to `principal`: same subject of the same issuer, acting
/// for the link's municipality.
fn issued_to(link: &FileLink, principal: &Principal) -> bool {
    principal.subject == link.s
        && principal.issuer == link.i
        && principal
            .municipalities
            .iter()
            .any(|m| m.as_str() == link.m)
}

impl Core {
    /// The caller's files of a table at a version, with signed links under `base` (the
    /// address clients reach dap at, e.g. `https://dap.kommune.dk`).
    pub async fn sharing_query(
        &self,
        principal: &Principal,
        table: TableRef<'_>,
        request: QueryRequest,
        base: &str,
    ) -> Result<(TableFiles, AuditFacts), AppError> {
        let scope = self.sharing_scope(principal, table)?;
        let partition = self
            .lake
            .partition_files(&scope, request.version, request.timestamp)
            .await?;
        let mut files = Vec::new();
        let mut rows = 0u64;
        for file in &partition.files {
            // The hint lets us stop early; returning all files is always correct.
            if request.limit_hint.is_some_and(|limit| rows >= limit) {
                break;
            }
            let encoded = self
                .lake
                .scoped_file(&scope, partition.version, partition.read, file)
                .await?;
            if encoded.rows == 0 {
                continue;
            }
            let (action, _) = self.issue_link(
                principal,
                &scope,
                file,
                false,
                (partition.version, Some(partition.read)),
                encoded,
                base,
            )?;
            rows += action.num_records;
            files.push(action);
        }
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(partition.version),
            columns: Some(scope.visible_columns().join(",")),
            filter: Some(format!("{} files", files.len())),
            rows_returned: usize::try_from(rows).ok(),
        };
        let metadata = metadata_of(&scope, partition.version);
        Ok((TableFiles { metadata, files }, facts))
    }

    /// Signs a link for `encoded` (one data file, or with `changes` one commit's changed
    /// rows) and remembers it; the action lists it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_link(
        &self,
        principal: &Principal,
        scope: &AccessScope,
        file: &str,
        changes: bool,
        (version, read): (u64, Option<u64>),
        encoded: dap_lake::files::ScopedFile,
        base: &str,
    ) -> Result<(FileAction, FileLink), AppError> {
        let view = view_digest(scope);
        let expires = Utc::now().timestamp() + LINK_LIFETIME_SECS;
        let mut link = FileLink {
            n: nonce(),
            d: scope.dataset().id.to_string(),
            v: version,
            r: read,
            f: file.to_owned(),
            x: changes,
            s: principal.subject.clone(),
            i: principal.issuer.clone(),
            m: scope.municipality().to_string(),
            c: view.clone(),
            z: encoded.body.len(),
            e: expires,
            p: LinkCaller::of(principal, scope.municipality()),
        };
        let mut token = self.cursors.sign_for(LINK_PURPOSE, &link)?;
        if token.len() > MAX_LINK_TOKEN {
            // Served by this replica (which remembers the caller) or on a credential.
            link.p = None;
            token = self.cursors.sign_for(LINK_PURPOSE, &link)?;
        }
        let kind = if changes { "changes" } else { "file" };
        let action = FileAction {
            url: format!("{base}{}/files/{token}", self.sharing.prefix),
            id: stable_id(&[kind, &link.d, &version.to_string(), &link.f, &link.m, &view]),
            size: link.z,
            num_records: encoded.rows,
            expiration_timestamp: expires * 1000,
        };
        self.sharing.remember(
            link.n.clone(),
            Remembered {
                principal: principal.clone(),
                expires,
                rows: encoded.rows,
                body: Some(encoded.body),
            },
        );
        Ok((action, link))
    }

    /// Checks a file link and finds whom it was issued to: the caller the link carries
    /// (any replica can serve it), or for a link without one, this replica's memory of
    /// the link or the request's own credential (`caller`). A caller other than the one
    /// the link names is refused, as is an altered or expired link.
    pub fn sharing_link(
        &self,
        token: &str,
        caller: Option<&Principal>,
    ) -> Result<(FileLink, Principal), AppError> {
        let link: FileLink = self
            .cursors
            .verify_for(LINK_PURPOSE, token)
            .ok_or_else(invalid_link)?;
        if link.e < Utc::now().timestamp() {
            return Err(invalid_link());
        }
        if caller.is_some_and(|c| !issued_to(&link, c)) {
            return Err(invalid_link());
        }
        let carried = link.p.as_ref().and_then(|p| p.principal(&link));
        let principal = match carried.or_else(|| self.sharing.recall(&link.n).map(|r| r.principal))
        {
            Some(principal) => principal,
            None => caller.cloned().ok_or_else(invalid_link)?,
        };
        if !issued_to(&link, &principal) {
            return Err(invalid_link());
        }
        Ok((link, principal))
    }

    /// The bytes a checked link serves: the link's file under the caller's scope as it
    /// is now (a scope that changed since the link was issued refuses it).
    pub async fn sharing_file(
        &self,
        link: &FileLink,
        principal: &Principal,
    ) -> Result<(ServedFile, AuditFacts), AppError> {
        self.still_valid(principal).await?;
        let scope = self.scope(principal, &link.d, Some(&link.m))?;
        if view_digest(&scope) != link.c {
            return Err(invalid_link());
        }
        let remembered = self.sharing.recall(&link.n);
        let kept = remembered
            .as_ref()
            .and_then(|r| r.body.clone().map(|b| (b, r.rows)));
        let (body, rows, made) = match kept {
            Some((body, rows)) => (body, rows, false),
            None => {
                let made = if link.x {
                    self.lake.scoped_changes(&scope, link.v).await?
                } else {
                    let read = link.r.unwrap_or(link.v);
                    self.lake.scoped_file(&scope, link.v, read, &link.f).await?
                };
                (made.body, made.rows, true)
            }
        };
        if body.len() != link.z {
            // Never serve bytes other than those the query described.
            return Err(AppError::internal(anyhow::anyhow!(
                "re-encoded shared file differs in size from the one listed"
            )));
        }
        // A client reads a file as several ranges: the file made for this one is kept
        // for the next (within the cache's bounds), by a replica that answered the query
        // and forgot the file, or one that did not and serves the caller the link
        // carries; it would otherwise be made again for every range.
        let keeper = match remembered {
            Some(r) => Some(r.principal),
            None => link.p.is_some().then(|| principal.clone()),
        };
        if made && let Some(principal) = keeper {
            let entry = Remembered {
                principal,
                expires: link.e,
                rows,
                body: Some(body.clone()),
            };
            self.sharing.remember(link.n.clone(), entry);
        }
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            table_version: Some(link.v),
            columns: Some(scope.visible_columns().join(",")),
            filter: Some(format!("file {}", link.n)),
            rows_returned: usize::try_from(rows).ok(),
        };
        Ok((ServedFile { body }, facts))
    }

    /// What a fetch of `part` of a served file (`None`: its size only, a HEAD) served,
    /// for its audit record and the metrics: the whole file's rows for the whole file;
    /// no rows for a HEAD; for a part, the bytes it covered and no row count (a range of
    /// a Parquet file, a footer or some column chunks, holds no countable rows; counting
    /// the file's at every range read would count a client's one read many times).
    pub fn sharing_served(
        mut facts: AuditFacts,
        total: u64,
        part: Option<std::ops::Range<u64>>,
    ) -> AuditFacts {
        let file = facts.filter.take().unwrap_or_default();
        match part {
            None => {
                facts.rows_returned = Some(0);
                facts.filter = Some(format!("{file}, size only"));
            }
            Some(range) if range.start == 0 && range.end >= total => facts.filter = Some(file),
            Some(range) => {
                facts.rows_returned = None;
                facts.filter = Some(format!(
                    "{file}, bytes {}-{} of {total}",
                    range.start,
                    range.end.saturating_sub(1)
                ));
            }
        }
        facts
    }

    /// The bytes of `range` of a served file, in order, as they are read.
    ///
    /// The first piece is read before this returns, and it comes only once the range's
    /// first bytes from the table's files were read: a file that cannot be read at all
    /// (its data files vacuumed since the query listed it) fails here, inside the
    /// request's audited work, with the lake's error: refused and recorded as such
    /// instead of answered with a response cut short. A read that fails after that ends
    /// the stream with an opaque error (logged here): the response is cut short of its
    /// length.
    pub async fn sharing_read(
        &self,
        served: &ServedFile,
        range: std::ops::Range<u64>,
    ) -> Result<impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + use<>, AppError>
    {
        use futures::StreamExt as _;
        let mut bytes = self.lake.read_file(&served.body, range).await?;
        let first = bytes.next().await.transpose()?;
        Ok(futures::stream::iter(first.map(Ok))
            .chain(bytes)
            .map(|piece| {
                piece.map_err(|error| {
                    tracing::error!(%error, "reading a shared file failed midway");
                    std::io::Error::other("the file could not be read")
                })
            }))
    }
}
