//! What dap pull shows while it downloads: rows received (counted from the Arrow stream
//! as it arrives) against the server's estimate of the total, from the table's history
//! (`GET …/versions`: the caller's municipality's inserted, updated and deleted rows per
//! commit).

use deltalake::arrow::buffer::Buffer;
use deltalake::arrow::ipc::reader::StreamDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

/// The part of `GET …/versions` the estimate needs.
#[derive(Debug, Deserialize)]
pub(super) struct Versions {
    versions: Vec<Commit>,
}

#[derive(Debug, Deserialize)]
struct Commit {
    version: u64,
    rows_inserted: Option<u64>,
    rows_updated: Option<u64>,
    rows_deleted: Option<u64>,
}

/// The rows a download with `query` will hold: for an export at `version` V, the rows
/// inserted minus the rows deleted up to V; for changes `from_version..=to_version`, one
/// row per insert and delete and two per update (pre- and post-image). `None` when a
/// commit's counts are unknown (the server could not read them).
pub(super) fn estimate(versions: &Versions, query: &[(&str, &str)]) -> Option<u64> {
    let number = |key: &str| -> Option<u64> {
        query
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    };
    if let Some(at) = number("version") {
        let mut rows: i128 = 0;
        for c in versions.versions.iter().filter(|c| c.version <= at) {
            rows += i128::from(c.rows_inserted?) - i128::from(c.rows_deleted?);
        }
        return u64::try_from(rows.max(0)).ok();
    }
    let from = number("from_version")?;
    let to = number("to_version").unwrap_or(u64::MAX);
    let mut rows = 0u64;
    for c in versions
        .versions
        .iter()
        .filter(|c| (from..=to).contains(&c.version))
    {
        rows += c.rows_inserted? + c.rows_deleted? + 2 * c.rows_updated?;
    }
    Some(rows)
}

/// Counts the rows of an Arrow IPC stream fed chunk by chunk; each decoded batch is
/// dropped at once. A stream it cannot decode stops the count (the pull's own reading of
/// the file reports the error).
#[derive(Debug, Default)]
pub(super) struct RowCounter {
    decoder: StreamDecoder,
    rows: u64,
    failed: bool,
}

impl RowCounter {
    /// Feeds the next bytes; returns the rows counted so far.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> u64 {
        let mut buffer = Buffer::from_vec(chunk.to_vec());
        while !self.failed && !buffer.is_empty() {
            match self.decoder.decode(&mut buffer) {
                Ok(Some(batch)) => self.rows += batch.num_rows() as u64,
                Ok(None) => {}
                Err(_) => self.failed = true,
            }
        }
        self.rows
    }
}

/// A progress bar in rows against the estimate (a spinner without one), with the bytes
/// received as prefix; hidden unless `visible`.
pub(super) fn bar(visible: bool, what: &str, estimate: Option<u64>) -> anyhow::Result<ProgressBar> {
    if !visible {
        return Ok(ProgressBar::hidden());
    }
    let bar = match estimate {
        Some(total) => {
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template(
                "{msg} [{bar:30}] {human_pos} of ~{human_len} rows (estimated), {prefix}, {per_sec}",
            )?);
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template(
                "{spinner} {msg}: {human_pos} rows, {prefix}",
            )?);
            bar
        }
    };
    bar.set_message(format!("downloading {what}"));
    Ok(bar)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int32Array, RecordBatch};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::arrow::ipc::writer::StreamWriter;

    use super::*;

    fn commit(version: u64, ins: u64, upd: u64, del: u64) -> Commit {
        Commit {
            version,
            rows_inserted: Some(ins),
            rows_updated: Some(upd),
            rows_deleted: Some(del),
        }
    }

    #[test]
    fn the_estimate_follows_the_history() {
        let versions = Versions {
            versions: vec![
                commit(2, 0, 3, 5),
                commit(1, 40, 0, 0),
                commit(0, 100, 0, 0),
            ],
        };
        assert_eq!(estimate(&versions, &[("version", "2")]), Some(135));
        assert_eq!(estimate(&versions, &[("version", "1")]), Some(140));
        let changes = [("from_version", "1"), ("to_version", "2")];
        assert_eq!(estimate(&versions, &changes), Some(40 + 6 + 5));
        let unknown = Versions {
            versions: vec![Commit {
                version: 0,
                rows_inserted: None,
                rows_updated: None,
                rows_deleted: None,
            }],
        };
        assert_eq!(estimate(&unknown, &[("version", "0")]), None);
        assert_eq!(estimate(&versions, &[("format", "arrow")]), None);
    }

    #[test]
    fn rows_are_counted_from_a_stream_cut_anywhere() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let mut bytes = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut bytes, &schema).expect("writer");
            for size in [3, 0, 7, 1] {
                let batch = RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int32Array::from(vec![1; size]))],
                )
                .expect("batch");
                writer.write(&batch).expect("write");
            }
            writer.finish().expect("finish");
        }
        for cut in [1, 7, 64, bytes.len()] {
            let mut counter = RowCounter::default();
            let mut last = 0;
            for chunk in bytes.chunks(cut) {
                last = counter.feed(chunk);
            }
            assert_eq!(last, 11, "chunks of {cut} bytes");
        }
    }
}
