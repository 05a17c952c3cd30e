//! A mirror records what it mirrors (server, dataset, municipality, columns) in its Delta
//! log; a pull that does not match refuses and leaves the folder as it was, and only dap
//! pull's own commits count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dap_api::pull::{MirrorFormat, PullOptions, pull};
use dap_schema::NsisLevel;
use deltalake::arrow::array::{Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::{DATASET, mirror_rows, options};
use crate::helpers::{READ_ROLES, TestApp, spawn_app};

/// Every file under `dir` with its bytes: "the folder is unchanged" is this map, equal.
pub(super) fn folder(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The Delta log's commits, oldest first, each as its list of actions.
pub(super) fn commits(dir: &Path) -> Vec<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("_delta_log"))
        .expect("log")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("commit")
                .lines()
                .map(|l| serde_json::from_str(l).expect("action"))
                .collect()
        })
        .collect()
}

pub(super) fn actions<'a>(commit: &'a [Value], kind: &str) -> Vec<&'a Value> {
    commit.iter().filter_map(|a| a.get(kind)).collect()
}

/// The mirror's table properties (`dap.mirror.*`).
pub(super) async fn properties(dir: &Path) -> std::collections::HashMap<String, String> {
    let url = url::Url::from_directory_path(std::path::absolute(dir).expect("abs")).expect("url");
    let table = deltalake::open_table(url).await.expect("open mirror");
    table
        .snapshot()
        .expect("snapshot")
        .metadata()
        .configuration()
        .clone()
}

pub(super) fn for_municipality(app: &TestApp, dir: &Path, code: &str) -> PullOptions {
    PullOptions {
        credentials: dap_api::pull::Credentials::Token(app.analyst(code).into()),
        ..options(app, dir, MirrorFormat::Delta)
    }
}

pub(super) async fn oracle_of(app: &TestApp, code: &str) -> Vec<Value> {
    app.oracle(
        DATASET,
        &format!("SELECT * FROM t WHERE kommunekode = '{code}' ORDER BY posteringsid"),
    )
    .await
}

#[tokio::test]
async fn a_pull_for_another_municipality_is_refused_and_leaves_the_folder_alone() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&for_municipality(&app, dir.path(), "0101"))
        .await
        .expect("0101");
    let before = folder(dir.path());

    // Act
    let error = pull(&for_municipality(&app, dir.path(), "0147"))
        .await
        .expect_err("0147 into 0101's mirror")
        .to_string();

    // Assert
    assert!(
        error.contains("municipality")
            && error.contains("0101")
            && error.contains("0147")
            && error.contains("--replace"),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before, "the folder changed");
    assert_eq!(mirror_rows(dir.path()).await, oracle_of(&app, "0101").await);
}

#[tokio::test]
async fn a_pull_of_another_dataset_into_a_mirror_is_refused() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&options(&app, dir.path(), MirrorFormat::Delta))
        .await
        .expect("posteringer");
    let before = folder(dir.path());

    let error = pull(&PullOptions {
        dataset: "aeldre.hjemmepleje".into(),
        ..options(&app, dir.path(), MirrorFormat::Delta)
    })
    .await
    .expect_err("another dataset")
    .to_string();

    assert!(
        error.contains("dataset")
            && error.contains("aeldre.hjemmepleje")
            && error.contains(DATASET),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before);
}

#[tokio::test]
async fn a_pull_from_another_server_is_refused() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&options(&app, dir.path(), MirrorFormat::Delta))
        .await
        .expect("first server");
    let before = folder(dir.path());

    let error = pull(&options(&other, dir.path(), MirrorFormat::Delta))
        .await
        .expect_err("second server")
        .to_string();

    assert!(
        error.contains("server") && error.contains(&other.address),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before);
}

#[tokio::test]
async fn a_pull_that_sees_other_columns_is_refused() {
    // Arrange: a mirror pulled with the sensitive role holds `cpr`.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut roles = READ_ROLES.to_vec();
    roles.push("laes-foelsomme");
    let with_cpr = PullOptions {
        dataset: "aeldre.hjemmepleje".into(),
        credentials: dap_api::pull::Credentials::Token(
            app.token("0101", &roles, NsisLevel::Substantial).into(),
        ),
        ..options(&app, dir.path(), MirrorFormat::Delta)
    };
    pull(&with_cpr).await.expect("with cpr");
    let before = folder(dir.path());

    // Act: the same dataset through a token that does not open `cpr`.
    let error = pull(&PullOptions {
        credentials: dap_api::pull::Credentials::Token(app.analyst("0101").into()),
        ..with_cpr
    })
    .await
    .expect_err("without cpr")
    .to_string();

    // Assert
    assert!(
        error.contains("columns") && error.contains("cpr"),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before);
}

fn foreign_batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        std::sync::Arc::new(schema),
        vec![
            std::sync::Arc::new(Int64Array::from(vec![1, 2])),
            std::sync::Arc::new(StringArray::from(vec!["a", "b"])),
        ],
    )
    .expect("batch")
}

#[tokio::test]
async fn a_delta_table_not_made_by_dap_pull_is_refused_unless_replaced() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let url = url::Url::from_directory_path(dir.path()).expect("url");
    deltalake::DeltaTableBuilder::from_url(url)
        .expect("builder")
        .build()
        .expect("table")
        .write(vec![foreign_batch()])
        .await
        .expect("someone else's table");
    let before = folder(dir.path());

    let error = pull(&options(&app, dir.path(), MirrorFormat::Delta))
        .await
        .expect_err("foreign table")
        .to_string();
    assert!(
        error.contains("not made by dap pull") && error.contains("--replace"),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before);

    pull(&PullOptions {
        replace: true,
        ..options(&app, dir.path(), MirrorFormat::Delta)
    })
    .await
    .expect("replace");
    assert_eq!(mirror_rows(dir.path()).await, oracle_of(&app, "0101").await);
}

#[tokio::test]
async fn a_mirror_changed_by_another_writer_is_refused_unless_replaced() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let opts = options(&app, dir.path(), MirrorFormat::Delta);
    pull(&opts).await.expect("full");
    let url = url::Url::from_directory_path(dir.path()).expect("url");
    let table = deltalake::open_table(url).await.expect("open");
    table
        .delete()
        .with_predicate("posteringsid % 2 = 0")
        .await
        .expect("someone deletes rows in the mirror");

    let error = pull(&opts).await.expect_err("tampered").to_string();
    assert!(
        error.contains("another writer") && error.contains("--replace"),
        "{error}"
    );

    pull(&PullOptions {
        replace: true,
        ..opts
    })
    .await
    .expect("replace");
    assert_eq!(mirror_rows(dir.path()).await, oracle_of(&app, "0101").await);
}

#[tokio::test]
async fn a_folder_with_other_files_is_refused_even_with_replace() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");

    for replace in [false, true] {
        let error = pull(&PullOptions {
            replace,
            ..options(&app, dir.path(), MirrorFormat::Delta)
        })
        .await
        .expect_err("non-empty folder")
        .to_string();
        assert!(error.contains("not empty"), "{error}");
    }
    assert_eq!(
        folder(dir.path()),
        BTreeMap::from([(PathBuf::from("notes.txt"), b"mine".to_vec())])
    );
}

#[tokio::test]
async fn parquet_mode_refuses_another_municipality_too() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&options(&app, dir.path(), MirrorFormat::Parquet))
        .await
        .expect("0101");
    let before = folder(dir.path());

    let error = pull(&PullOptions {
        credentials: dap_api::pull::Credentials::Token(app.analyst("0147").into()),
        ..options(&app, dir.path(), MirrorFormat::Parquet)
    })
    .await
    .expect_err("0147")
    .to_string();

    assert!(
        error.contains("0147") && error.contains("--replace"),
        "{error}"
    );
    assert_eq!(folder(dir.path()), before);
}
