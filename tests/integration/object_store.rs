//! The lake's location: a lake URL whose object store cannot be set up from the settings
//! stops startup with a message naming the setting to fix (the reads themselves on
//! Azure Blob Storage are tested end to end against Azurite, tests/e2e/test_object_store.py).

use std::net::SocketAddr;

use dap_api::Application;
use dap_api::demo::{self, DemoOptions};

async fn startup_error(root: &str) -> String {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let options = DemoOptions {
        data_dir: data_dir.path().to_path_buf(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        rows_per_municipality: 1,
    };
    let mut settings = demo::settings(&options).expect("settings");
    settings.lake.root = root.into();
    match Application::build(settings).await {
        Ok(_) => panic!("{root}: dap started"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn an_azure_lake_without_an_account_stops_startup_naming_the_setting() {
    let message = startup_error("az://warehouse/dap/lake").await;
    assert!(
        message.contains("lake.root az://warehouse/dap/lake"),
        "{message}"
    );
    assert!(message.contains("account_name"), "{message}");
    assert!(message.contains("DAP_LAKE__STORAGE__"), "{message}");
}

#[tokio::test]
async fn a_lake_url_of_an_unsupported_scheme_stops_startup_naming_the_schemes() {
    let message = startup_error("ftp://files.example/lake").await;
    assert!(
        message.contains("lake.root ftp://files.example/lake"),
        "{message}"
    );
    assert!(message.contains("ftp:// is not supported"), "{message}");
    assert!(
        message.contains("az://") && message.contains("s3://"),
        "{message}"
    );
}
