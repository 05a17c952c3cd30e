//! Prometheus metrics: what the core and its surfaces record, and the text a scrape reads.
//!
//! Recording is plain method calls on [`Metrics`] (no HTTP here): the REST middleware
//! records each request, the core records audit appends and rows served, the export body
//! records rows and bytes as they go out. Values the lake and the export register keep
//! themselves (scans, files pruned, refresh times, open exports) are read at scrape time.
//!
//! Labels carry no tenant data beyond the municipality code: a surface, a route
//! *template* (never the path a caller sent), a method, a status, a dataset id, a
//! municipality code. Never a token, client id, subject or filter value.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Core;

/// The content type of [`Core::render_metrics`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which surface served a request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Surface {
    Rest,
    Graphql,
    Odata,
    Sharing,
    Console,
    Auth,
    Health,
    Docs,
    /// A path no route matches.
    Other,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Graphql => "graphql",
            Self::Odata => "odata",
            Self::Sharing => "sharing",
            Self::Console => "console",
            Self::Auth => "auth",
            Self::Health => "health",
            Self::Docs => "docs",
            Self::Other => "other",
        }
    }

    /// The surface of a route template or path; `sharing_prefix` is where Delta Sharing
    /// is served (configurable).
    pub fn of_path(path: &str, sharing_prefix: &str) -> Self {
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let sharing = sharing_prefix.trim_end_matches('/');
        if under("/api") {
            Self::Rest
        } else if under("/graphql") {
            Self::Graphql
        } else if under("/odata") {
            Self::Odata
        } else if !sharing.is_empty() && under(sharing) {
            Self::Sharing
        } else if under("/health") {
            Self::Health
        } else if under("/auth") || under("/oauth") || under("/.well-known") {
            Self::Auth
        } else if under("/docs") {
            Self::Docs
        } else if path == "/" || under("/console") {
            Self::Console
        } else {
            Self::Other
        }
    }

    /// The surface of an audited action (`GET /api/v1/…`, `POST /graphql …`, or
    /// `graphql mutation …`).
    pub fn of_action(action: &str, sharing_prefix: &str) -> Self {
        if action.starts_with("graphql") {
            return Self::Graphql;
        }
        let path = action.split_whitespace().nth(1).unwrap_or_default();
        Self::of_path(path, sharing_prefix)
    }
}

impl EncodeLabelValue for Surface {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// How rows left: a page (REST rows, GraphQL, OData, key figures) or an export stream.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Delivery {
    Page,
    Export,
}

impl EncodeLabelValue for Delivery {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let name = match self {
            Self::Page => "page",
            Self::Export => "export",
        };
        EncodeLabelValue::encode(&name, encoder)
    }
}

/// One HTTP request's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub surface: Surface,
    /// The route template, e.g. `/api/v1/datasets/{id}/rows`; `unmatched` for no route.
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    surface: Surface,
    route: String,
    method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    surface: Surface,
    delivery: Delivery,
    municipality: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatasetLabels {
    dataset: String,
}

/// What one served request was, for [`Metrics::request`].
#[derive(Debug, Clone)]
pub struct ServedRequest<'a> {
    pub surface: Surface,
    /// The route template, `None` when no route matched.
    pub route: Option<&'a str>,
    pub method: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// The body's size when it was known up front (not for streams).
    pub body_bytes: Option<u64>,
}

/// The process's metrics (cheap to clone: every metric is shared).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    response_bytes: Family<LatencyLabels, Counter>,
    rows: Family<ServedLabels, Counter>,
    bytes: Family<ServedLabels, Counter>,
    audit_append: Histogram,
    audit_failures: Counter,
    sharing_prefix: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// HTTP methods as labels: anything else is `other`, so a caller cannot mint series.
fn method_label(method: &str) -> String {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method.to_owned(),
        _ => "other".to_owned(),
    }
}

/// A municipality code as a label: four digits, or nothing (`none`).
fn municipality_label(code: Option<&str>) -> String {
    match code {
        Some(c) if c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()) => c.to_owned(),
        _ => "none".to_owned(),
    }
}

impl Metrics {
    /// Empty metrics; `sharing_prefix` tells the Delta Sharing surface's paths apart.
    pub fn new(sharing_prefix: &str) -> Self {
        let mut registry = Registry::with_prefix("dap");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by surface, route template, method and status",
            requests.clone(),
        );
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time until the response head was ready (a stream's body may take longer)",
            latency.clone(),
        );
        let response_bytes = Family::<LatencyLabels, Counter>::default();
        registry.register(
            "http_response_bytes",
            "Bytes of response bodies whose size was known up front (pages, documents)",
            response_bytes.clone(),
        );
        let rows = Family::<ServedLabels, Counter>::default();
        registry.register(
            "served_rows",
            "Rows of data served, by surface, page or export, and municipality",
            rows.clone(),
        );
        let bytes = Family::<ServedLabels, Counter>::default();
        registry.register(
            "served_bytes",
            "Bytes of exports handed to the connection, by surface and municipality",
            bytes.clone(),
        );
        let audit_append = latency_histogram();
        registry.register(
            "audit_append_duration_seconds",
            "Time to append one audit record",
            audit_append.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_append_failures",
            "Audit appends that failed (the request failed closed)",
            audit_failures.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            response_bytes,
            rows,
            bytes,
            audit_append,
            audit_failures,
            sharing_prefix: sharing_prefix.to_owned(),
        }
    }

    /// The surface a path or route template belongs to.
    pub fn surface_of(&self, path: &str) -> Surface {
        Surface::of_path(path, &self.sharing_prefix)
    }

    /// The surface of an audited action ([`super::RequestContext::action`]).
    pub fn surface_of_action(&self, action: &str) -> Surface {
        Surface::of_action(action, &self.sharing_prefix)
    }

    /// Records one answered HTTP request.
    pub fn request(&self, served: &ServedRequest<'_>) {
        let route = served.route.unwrap_or("unmatched").to_owned();
        let method = method_label(served.method);
        self.requests
            .get_or_create(&RequestLabels {
                surface: served.surface,
                route: route.clone(),
                method: method.clone(),
                status: served.status.to_string(),
            })
            .inc();
        let labels = LatencyLabels {
            surface: served.surface,
            route,
            method,
        };
        self.latency
            .get_or_create(&labels)
            .observe(served.elapsed.as_secs_f64());
        if let Some(bytes) = served.body_bytes {
            self.response_bytes.get_or_create(&labels).inc_by(bytes);
        }
    }

    /// Records rows (and bytes, for exports) served to `municipality`.
    pub fn served(
        &self,
        surface: Surface,
        delivery: Delivery,
        municipality: Option<&str>,
        rows: u64,
        bytes: u64,
    ) {
        let labels = ServedLabels {
            surface,
            delivery,
            municipality: municipality_label(municipality),
        };
        self.rows.get_or_create(&labels).inc_by(rows);
        if bytes > 0 {
            self.bytes.get_or_create(&labels).inc_by(bytes);
        }
    }

    /// Records one audit append: how long it took and whether it failed.
    pub fn audit_appended(&self, took: Duration, failed: bool) {
        self.audit_append.observe(took.as_secs_f64());
        if failed {
            self.audit_failures.inc();
        }
    }
}

/// Values kept elsewhere, read when a scrape comes.
struct Scrape {
    open_exports: i64,
    /// Per dataset: seconds since its table was last found current.
    refresh_lag: Vec<(String, f64)>,
    /// Per dataset: scans, files read, files pruned.
    scans: Vec<(String, dap_lake::ScanCounts)>,
}

impl Scrape {
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("dap");
        let open = Gauge::<i64>::default();
        open.set(self.open_exports);
        registry.register("exports_open", "Exports streaming now", open);
        let lag = Family::<DatasetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (dataset, seconds) in &self.refresh_lag {
            lag.get_or_create(&DatasetLabels {
                dataset: dataset.clone(),
            })
            .set(*seconds);
        }
        registry.register(
            "table_refresh_lag_seconds",
            "Seconds since the served table was last found current (grows while a newer commit cannot be read or storage does not answer)",
            lag,
        );
        let scans = Family::<DatasetLabels, Counter>::default();
        let read = Family::<DatasetLabels, Counter>::default();
        let pruned = Family::<DatasetLabels, Counter>::default();
        for (dataset, counts) in &self.scans {
            let labels = DatasetLabels {
                dataset: dataset.clone(),
            };
            scans.get_or_create(&labels).inc_by(counts.scans);
            read.get_or_create(&labels).inc_by(counts.files_read);
            pruned.get_or_create(&labels).inc_by(counts.files_pruned);
        }
        registry.register("lake_scans", "Scans planned over a dataset's table", scans);
        registry.register(
            "lake_files_scanned",
            "Data files in the plans of those scans (the caller's municipality partition)",
            read,
        );
        registry.register(
            "lake_files_pruned",
            "Data files left out of those plans before reading (other municipalities' partitions)",
            pruned,
        );
        registry
    }
}

impl Core {
    /// The metrics as OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn render_metrics(&self) -> Result<String, std::fmt::Error> {
        let now = chrono::Utc::now();
        let datasets = self.catalogue.all();
        let dataset_of = |location: &str| {
            datasets
                .iter()
                .find(|d| self.lake.location(d).is_ok_and(|u| u.as_str() == location))
                .map(|d| d.id.to_string())
        };
        let refresh_lag = self
            .lake
            .current_since()
            .into_iter()
            .filter_map(|(location, since)| {
                let seconds = (now - since).num_milliseconds() as f64 / 1000.0;
                Some((dataset_of(&location)?, seconds.max(0.0)))
            })
            .collect();
        let scrape = Scrape {
            open_exports: i64::try_from(self.exports.running()).unwrap_or(i64::MAX),
            refresh_lag,
            scans: self.lake.scan_counts(),
        };
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &self.metrics.registry)?;
        prometheus_client::encoding::text::encode_registry(&mut text, &scrape.registry())?;
        prometheus_client::encoding::text::encode_eof(&mut text)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_follow_the_route_prefix() {
        let of = |p| Surface::of_path(p, "/delta-sharing");
        assert_eq!(of("/api/v1/datasets/{id}/rows"), Surface::Rest);
        assert_eq!(of("/graphql"), Surface::Graphql);
        assert_eq!(of("/odata/{tail}"), Surface::Odata);
        assert_eq!(of("/delta-sharing/shares"), Surface::Sharing);
        assert_eq!(of("/health/ready"), Surface::Health);
        assert_eq!(of("/oauth/token"), Surface::Auth);
        assert_eq!(of("/auth/login"), Surface::Auth);
        assert_eq!(of("/console/datasets/{id}"), Surface::Console);
        assert_eq!(of("/"), Surface::Console);
        assert_eq!(of("/apiary"), Surface::Other);
        assert_eq!(
            Surface::of_action("graphql mutation createToken", "/delta-sharing"),
            Surface::Graphql
        );
        assert_eq!(
            Surface::of_action("GET /odata/{tail}", "/delta-sharing"),
            Surface::Odata
        );
    }

    #[test]
    fn labels_admit_no_caller_chosen_values() {
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(municipality_label(Some("0101")), "0101");
        assert_eq!(municipality_label(Some("eyJhbGciOi")), "none");
        assert_eq!(municipality_label(None), "none");
    }
}
