//! Where the lake's files are: a local directory or an object store (Azure Blob Storage
//! `az://`/`abfss://`, S3 and S3-compatible stores `s3://`), and the options that reach it.
//! Every table the lake opens or creates goes through [`StorageOptions`], so one setting
//! reaches every read, write and maintenance run.

use std::collections::HashMap;
use std::sync::Once;

use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

use crate::{Error, Result};

/// Options of the object store (`object_store`/delta-rs keys such as
/// `azure_storage_account_name` or `AWS_REGION`). Values may be secrets (account keys,
/// SAS tokens, secret access keys): `Debug` shows the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageOptions(HashMap<String, String>);

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        f.debug_struct("StorageOptions")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for StorageOptions {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl StorageOptions {
    /// The options as delta-rs takes them.
    pub(crate) fn map(&self) -> HashMap<String, String> {
        self.0.clone()
    }
}

/// The kind of store a lake URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Local,
    Azure,
    S3,
}

impl StoreKind {
    /// The store behind `url`, or an error that names the schemes dap reads.
    pub fn of(url: &Url) -> Result<Self> {
        match url.scheme() {
            "file" => Ok(Self::Local),
            "az" | "abfs" | "abfss" | "azure" | "adl" => Ok(Self::Azure),
            "s3" | "s3a" => Ok(Self::S3),
            other => Err(Error::Storage(format!(
                "{url}: the scheme {other}:// is not supported; use a local directory, az://container/prefix, abfss://container@account.dfs.core.windows.net/prefix or s3://bucket/prefix"
            ))),
        }
    }
}

/// Makes sure delta-rs knows the Azure and S3 URL schemes (its own registration runs at
/// load time; doing it once more here does not depend on that).
pub(crate) fn register_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        deltalake::azure::register_handlers(None);
        deltalake::aws::register_handlers(None);
    });
}

/// Opens the table at `url` with `options`.
pub(crate) async fn open_table(
    url: Url,
    options: &StorageOptions,
) -> deltalake::DeltaResult<DeltaTable> {
    DeltaTableBuilder::from_url(url)?
        .with_storage_options(options.map())
        .load()
        .await
}

/// A not-yet-loaded table at `url` (to create it, or to see whether it exists).
pub(crate) fn table_builder(url: Url, options: &StorageOptions) -> Result<DeltaTableBuilder> {
    Ok(DeltaTableBuilder::from_url(url)?.with_storage_options(options.map()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_keys_and_never_a_value() {
        let options: StorageOptions = [
            ("azure_storage_account_name", "acct"),
            ("azure_storage_account_key", "c2VjcmV0LWtleQ=="),
        ]
        .into_iter()
        .collect();
        let text = format!("{options:?}");
        assert!(text.contains("azure_storage_account_key"), "{text}");
        assert!(!text.contains("c2VjcmV0LWtleQ=="), "{text}");
        assert!(!text.contains("acct"), "{text}");
    }

    #[test]
    fn schemes_are_told_apart_and_unknown_ones_named() {
        let kind = |u: &str| StoreKind::of(&Url::parse(u).expect("url"));
        assert_eq!(kind("az://lake/prefix/").ok(), Some(StoreKind::Azure));
        assert_eq!(
            kind("abfss://lake@acct.dfs.core.windows.net/p/").ok(),
            Some(StoreKind::Azure)
        );
        assert_eq!(kind("s3://bucket/p/").ok(), Some(StoreKind::S3));
        assert_eq!(kind("file:///tmp/lake/").ok(), Some(StoreKind::Local));
        let refused = kind("ftp://host/lake/").err().map(|e| e.to_string());
        assert!(refused.is_some_and(|m| m.contains("ftp://") && m.contains("az://")));
    }
}
