//! `replace` swaps a mirror's whole table in one overwrite commit, and the mirror it makes
//! goes on with incremental pulls.

use dap_api::pull::{MirrorFormat, PullOptions, pull};
use serde_json::Value;

use super::mirror::{actions, commits, for_municipality, oracle_of, properties};
use super::{DATASET, change_the_lake, mirror_rows, options};
use crate::helpers::spawn_app;

#[tokio::test]
async fn replace_makes_the_mirror_exactly_the_other_municipality_in_one_overwrite() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&for_municipality(&app, dir.path(), "0101"))
        .await
        .expect("0101");
    let added_before: Vec<String> = commits(dir.path())
        .iter()
        .flat_map(|c| actions(c, "add"))
        .map(|a| a["path"].as_str().expect("path").to_owned())
        .collect();

    // Act
    let report = pull(&PullOptions {
        replace: true,
        ..for_municipality(&app, dir.path(), "0147")
    })
    .await
    .expect("replace with 0147");

    // Assert
    assert_eq!(report.kind, "full");
    let mirrored = mirror_rows(dir.path()).await;
    assert_eq!(mirrored, oracle_of(&app, "0147").await);
    assert!(!mirrored.is_empty());
    let log = commits(dir.path());
    assert_eq!(log.len(), 2, "one commit per pull");
    let last = &log[1];
    let info = actions(last, "commitInfo");
    assert_eq!(info.len(), 1);
    assert_eq!(
        info[0]["operationParameters"]["mode"], "Overwrite",
        "{last:?}"
    );
    let mut removed: Vec<String> = actions(last, "remove")
        .iter()
        .map(|r| r["path"].as_str().expect("path").to_owned())
        .collect();
    removed.sort();
    let mut expected_removed = added_before.clone();
    expected_removed.sort();
    assert_eq!(
        removed, expected_removed,
        "every old file goes in the same commit"
    );
    assert!(!actions(last, "add").is_empty());
    let props = properties(dir.path()).await;
    assert_eq!(
        props.get("dap.mirror.municipality").map(String::as_str),
        Some("0147")
    );
    assert_eq!(
        props.get("dap.mirror.dataset").map(String::as_str),
        Some(DATASET)
    );
}

#[tokio::test]
async fn a_full_pull_twice_keeps_one_copy_and_the_second_is_one_overwrite_commit() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let opts = options(&app, dir.path(), MirrorFormat::Delta);
    pull(&opts).await.expect("first");

    let second = pull(&PullOptions {
        replace: true,
        ..opts.clone()
    })
    .await
    .expect("second full pull");

    assert_eq!(second.kind, "full");
    assert_eq!(mirror_rows(dir.path()).await, oracle_of(&app, "0101").await);
    let log = commits(dir.path());
    assert_eq!(log.len(), 2);
    let first_files: Vec<&Value> = actions(&log[0], "add").iter().map(|a| &a["path"]).collect();
    let removed: Vec<&Value> = actions(&log[1], "remove")
        .iter()
        .map(|r| &r["path"])
        .collect();
    assert_eq!(removed, first_files);
    assert_eq!(
        actions(&log[1], "commitInfo")[0]["operationParameters"]["mode"],
        "Overwrite"
    );
    // The next run is incremental again.
    assert_eq!(pull(&opts).await.expect("third").kind, "up_to_date");
}

#[tokio::test]
async fn an_incremental_pull_after_a_replacing_full_pull_ends_equal_to_the_oracle() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    pull(&for_municipality(&app, dir.path(), "0147"))
        .await
        .expect("0147");
    let opts = PullOptions {
        replace: true,
        ..for_municipality(&app, dir.path(), "0101")
    };
    pull(&opts).await.expect("replace with 0101");

    let version = change_the_lake(&app).await;
    let report = pull(&PullOptions {
        replace: false,
        ..opts
    })
    .await
    .expect("incremental");

    assert_eq!((report.kind, report.to_version), ("changes", version));
    assert_eq!(mirror_rows(dir.path()).await, oracle_of(&app, "0101").await);
}
