//! Structured logs. Request ids come from `tracing-actix-web`; token values are never
//! recorded (the root span records method, route, client address and request id only).

use tracing_subscriber::EnvFilter;

/// Library crates log their internals at info; keep dap's own lines readable.
pub const DEFAULT_FILTER: &str =
    "info,buoyant_kernel=warn,deltalake_core=warn,datafusion=warn,sea_orm_migration=warn,sqlx=warn";

/// Installs the global subscriber once; `json` selects JSON lines.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_env("DAP_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
