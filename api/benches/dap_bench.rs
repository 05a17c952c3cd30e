//! Benchmark helper (run by hand in release mode, see BENCHMARKS.md):
//! `dap-bench generate` builds a data directory with a large `bench.posteringer` table,
//! `dap-bench scan` times an in-process DataFusion scan of one municipality's rows, the
//! baseline that exports are compared with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dap_api::demo::{self, DemoOptions};
use dap_schema::{ControlPlane, DatasetId};
use deltalake::arrow::array::{Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::protocol::SaveMode;
use futures::StreamExt;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory with `bench.posteringer`: ROWS rows for 0101, 1000 for 0751.
    Generate {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
    },
    /// Time an in-process DataFusion scan of 0101's rows of `bench.posteringer`.
    Scan {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

const BATCH: usize = 1_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { data_dir, rows } => generate(data_dir, rows).await,
        Command::Scan { data_dir } => scan(data_dir).await,
    }
}

fn table_url(data_dir: &std::path::Path) -> anyhow::Result<url::Url> {
    let dir = std::path::absolute(data_dir.join("lake/bench/posteringer"))?;
    std::fs::create_dir_all(&dir)?;
    url::Url::from_directory_path(&dir).map_err(|_| anyhow::anyhow!("bad path"))
}

async fn generate(data_dir: PathBuf, rows: usize) -> anyhow::Result<()> {
    let options = DemoOptions {
        data_dir: data_dir.clone(),
        bind: "127.0.0.1:0".parse()?,
        rows_per_municipality: 10,
    };
    demo::prepare(&options).await?;
    let mut def = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == "oekonomi.posteringer")
        .context("posteringer")?;
    def.id = DatasetId::parse("bench.posteringer")?;
    def.domain = "bench".into();
    def.read_role = "laes-bench".into();
    def.location = "bench/posteringer".into();
    let schema = dap_lake::demo::arrow_schema(&def);
    let started = Instant::now();
    let mut table = deltalake::DeltaTableBuilder::from_url(table_url(&data_dir)?)?.build()?;
    let mut written = 0;
    while written < rows {
        let n = BATCH.min(rows - written);
        let batch = postings(&schema, "0101", written, n)?;
        table = table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(["kommunekode"])
            .await?;
        written += n;
        eprintln!("written {written} rows");
    }
    table
        .write(vec![postings(&schema, "0751", 0, 1000)?])
        .with_save_mode(SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .await?;
    let settings = demo::settings(&options)?;
    ControlPlane::connect(&settings.database_url)
        .await?
        .upsert_dataset(&def)
        .await?;
    println!(
        "generated {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn postings(
    schema: &deltalake::arrow::datatypes::SchemaRef,
    code: &str,
    start: usize,
    n: usize,
) -> anyhow::Result<RecordBatch> {
    let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
    let functions = ["0.25.10", "3.22.01", "5.22.07", "5.32.32", "6.45.51"];
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(StringArray::from(vec![code; n])),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Int32Array::from_iter_values(
                ids.iter().map(|i| 2016 + (i % 10) as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                ids.iter().map(|i| 1 + (i % 12) as i32),
            )),
            Arc::new(Date32Array::from_iter_values(
                ids.iter().map(|i| 16_800 + (i % 3650) as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| functions[(*i % 5) as usize]),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| if i % 2 == 0 { "1.0" } else { "4.0" }),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(
                    ids.iter()
                        .map(|i| (*i as i128 * 7919) % 10_000_000 - 2_000_000),
                )
                .with_precision_and_scale(18, 2)?,
            ),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("{code}-{:03}", i % 40)),
            )),
        ],
    )?)
}

async fn scan(data_dir: PathBuf) -> anyhow::Result<()> {
    let table = deltalake::open_table(table_url(&data_dir)?).await?;
    let ctx = SessionContext::new();
    table.update_datafusion_session(&ctx.state())?;
    let started = Instant::now();
    let frame = ctx
        .read_table(table.table_provider().await?)?
        .filter(col("kommunekode").eq(lit("0101")))?;
    let mut stream = frame.execute_stream().await?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows();
    }
    println!(
        "{{\"rows\": {rows}, \"seconds\": {:.3}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
