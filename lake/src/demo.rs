//! Deterministic demo data for all 98 municipalities: five Delta tables partitioned by
//! `kommunekode`, with change data feed enabled and at least two versions each (an
//! initial load and a later period appended); postings then get a late correction
//! (update) and some home-care visitations are removed (delete).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dap_schema::{
    Classification, ColumnDef, ColumnType, DatasetDef, DatasetId, NsisLevel, municipalities,
};
use deltalake::DeltaTable;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::protocol::SaveMode;
use url::Url;

use crate::Result;
use crate::lake::table_url;
use crate::storage::{StorageOptions, table_builder};

/// Default rows per municipality per dataset: the demo starts in seconds.
pub const DEFAULT_ROWS_PER_MUNICIPALITY: usize = 120;
/// Months of history in the demo (2023-01 … 2025-12).
const MONTHS: usize = 36;
const TENANT: &str = "kommunekode";
/// KOMBIT's organisation-unit data constraint; restricts `personale.fravaer` by unit.
pub const ORG_UNIT_CONSTRAINT: &str = "http://sts.kombit.dk/constraints/orgenhed/1";

/// The 14 IT domains of `infrastruktur.it_systemer`.
pub const IT_DOMAINS: [&str; 14] = [
    "Økonomi",
    "Løn og personale",
    "ESDH",
    "Borgerservice",
    "Skole",
    "Dagtilbud",
    "Ældre og sundhed",
    "Social",
    "Beskæftigelse",
    "Teknik og miljø",
    "Byggesag",
    "Ejendom",
    "Identitet og adgang",
    "Infrastruktur og drift",
];

/// Catalogue entries of the demo datasets; locations are relative to the lake root.
pub fn datasets() -> Vec<DatasetDef> {
    vec![
        posteringer_def(),
        fravaer_def(),
        befolkning_def(),
        hjemmepleje_def(),
        it_systemer_def(),
    ]
}

/// What [`create_lake_reporting`] says as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The table exists already and is left as it is.
    Existing { dataset: String },
    /// The table's rows are being generated and written (`index` of `total`, from 1).
    Creating {
        dataset: String,
        index: usize,
        total: usize,
    },
    /// The table was written; `rows` rows were generated for it.
    Created { dataset: String, rows: usize },
}

/// Creates every demo table under `root` (a local directory's URL, or an object store's
/// reached with `storage`) that does not exist yet. Returns the ids of the tables it
/// created.
pub async fn create_lake(
    root: &Url,
    storage: &StorageOptions,
    rows_per_municipality: usize,
) -> Result<Vec<String>> {
    create_lake_reporting(root, storage, rows_per_municipality, &mut |_| {}).await
}

/// Like [`create_lake`], telling `report` about every table before and after it is
/// written (generating all tables takes tens of seconds).
pub async fn create_lake_reporting(
    root: &Url,
    storage: &StorageOptions,
    rows_per_municipality: usize,
    report: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<String>> {
    let mut created = Vec::new();
    let all = datasets();
    let total = all.len();
    for (i, def) in all.into_iter().enumerate() {
        let dataset = def.id.to_string();
        let url = table_url(root, &def.location)?;
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path)?;
        }
        let table = table_builder(url.clone(), storage)?.build()?;
        if table.verify_deltatable_existence().await? {
            report(Progress::Existing { dataset });
            continue;
        }
        report(Progress::Creating {
            dataset: dataset.clone(),
            index: i + 1,
            total,
        });
        let (first, second) = generate(&def, rows_per_municipality)?;
        let rows = first
            .iter()
            .chain(second.iter())
            .map(RecordBatch::num_rows)
            .sum();
        let table = write(table, first, "demo: initial load").await?;
        let table = write(table, second, "demo: latest period").await?;
        correct(table, def.id.as_str()).await?;
        report(Progress::Created {
            dataset: dataset.clone(),
            rows,
        });
        created.push(dataset);
    }
    Ok(created)
}

async fn write(table: DeltaTable, batches: Vec<RecordBatch>, _what: &str) -> Result<DeltaTable> {
    Ok(table
        .write(batches)
        .with_save_mode(SaveMode::Append)
        .with_partition_columns([TENANT])
        .with_configuration([("delta.enableChangeDataFeed", Some("true"))])
        .await?)
}

/// Later versions that change rows, so the change feed has updates and deletes: a late
/// correction of postings (version 2) and removed visitations (version 2).
async fn correct(table: DeltaTable, dataset: &str) -> Result<()> {
    match dataset {
        "oekonomi.posteringer" => {
            table
                .update()
                .with_predicate("posteringsid % 50 = 7")
                .with_update("beloeb", "beloeb + 100")
                .await?;
        }
        "aeldre.hjemmepleje" => {
            table
                .delete()
                .with_predicate("visitationsid % 40 = 3")
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The rows of one demo dataset, split into the two versions' batches.
fn generate(def: &DatasetDef, rows: usize) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let schema = arrow_schema(def);
    let mut first = Vec::new();
    let mut second = Vec::new();
    for m in municipalities() {
        let code = m.code.as_str();
        let (early, late): (Vec<Row>, Vec<Row>) = rows_for(def.id.as_str(), code, rows)
            .into_iter()
            .partition(|r| !r.late);
        first.push(to_batch(&schema, def, &early)?);
        second.push(to_batch(&schema, def, &late)?);
    }
    Ok((first, second))
}

/// One generated row: values in column order, plus whether it belongs to version 1.
struct Row {
    values: Vec<Value>,
    late: bool,
}

enum Value {
    Str(String),
    I32(i32),
    I64(i64),
    F64(f64),
    /// Hundredths (scale 2).
    Dec(i128),
    /// Days since 1970-01-01.
    Date(i32),
}

fn rows_for(dataset: &str, code: &str, n: usize) -> Vec<Row> {
    let seed = hash(&[dataset, code]);
    let code_num: i64 = code.parse().unwrap_or_default();
    let s = |v: &str| Value::Str(v.to_owned());
    match dataset {
        "oekonomi.posteringer" => (0..n)
            .map(|i| {
                let r = mix(seed, i as u64);
                let month = i % MONTHS;
                let (year, mon) = year_month(month);
                let (funktion, art) = ACCOUNTS[(r % ACCOUNTS.len() as u64) as usize];
                let day = 1 + (r >> 8) % 28;
                let amount = ((r >> 16) % 2_500_000) as i128 - 250_000;
                Row {
                    values: vec![
                        s(code),
                        Value::I64(code_num * 10_000_000 + i as i64),
                        Value::I32(year),
                        Value::I32(mon),
                        Value::Date(days(year, mon, day as u32)),
                        s(funktion),
                        s(art),
                        Value::Dec(amount),
                        s(&format!("{code}-{:03}", 100 + (r >> 40) % 40)),
                    ],
                    late: month == MONTHS - 1,
                }
            })
            .collect(),
        "personale.fravaer" => (0..n.min(MONTHS * 6 * 5))
            .map(|i| {
                let r = mix(seed, i as u64);
                let month = i % MONTHS;
                let (year, mon) = year_month(month);
                // Every (department, job category) pair within the first 30 rows, so
                // each job category has several organisation units (the key figure's
                // contributing units) even at the demo's default size; 37 is coprime
                // to 30, so (month, pair) stays unique up to 1,080 rows.
                let pair = (i + i / MONTHS) % 30;
                let dept = pair / 5;
                let category = pair % 5;
                let fte = 5.0 + (r % 400) as f64 / 10.0;
                let absence = fte * (0.02 + (r >> 12) as f64 % 60.0 / 1000.0) * 21.0;
                Row {
                    values: vec![
                        s(code),
                        Value::I32(year),
                        Value::I32(mon),
                        s(DEPARTMENTS[dept]),
                        s(&format!("{code}-org-{dept:02}")),
                        s(JOB_CATEGORIES[category]),
                        Value::F64((absence * 10.0).round() / 10.0),
                        Value::F64((fte * 10.0).round() / 10.0),
                    ],
                    late: month == MONTHS - 1,
                }
            })
            .collect(),
        "borger.befolkning" => (0..n.min(24 * 100 * 2))
            .map(|i| {
                let r = mix(seed, i as u64);
                // Each quarter's rows add up to about the municipality's population, so
                // the demo's municipalities spread over the key figures' size bands.
                let rows_in_quarter = (n.min(24 * 100 * 2) - i % 24).div_ceil(24).max(1);
                let share = population(code) / rows_in_quarter as f64;
                let antal = (share * (0.9 + (r % 200) as f64 / 1000.0)).round() as i64;
                let quarter = i % 24;
                let age = (i / 24 / 2) % 100;
                let sex = if (i / 24) % 2 == 0 { "K" } else { "M" };
                Row {
                    values: vec![
                        s(code),
                        Value::I32(2020 + (quarter / 4) as i32),
                        Value::I32(1 + (quarter % 4) as i32),
                        Value::I32(age as i32),
                        s(sex),
                        Value::I64(antal.max(1)),
                    ],
                    late: quarter == 23,
                }
            })
            .collect(),
        "aeldre.hjemmepleje" => (0..n)
            .map(|i| {
                let r = mix(seed, i as u64);
                let month = i % MONTHS;
                let (year, mon) = year_month(month);
                let age = 65 + (r % 35) as i32;
                let birth_year = (year - age).rem_euclid(100);
                let cpr = format!(
                    "{:02}{:02}{:02}-{:04}",
                    1 + (r >> 8) % 28,
                    1 + (r >> 16) % 12,
                    birth_year,
                    (r >> 24) % 10_000
                );
                Row {
                    values: vec![
                        s(code),
                        Value::I64(code_num * 10_000_000 + i as i64),
                        s(&format!(
                            "B-{:016x}",
                            mix(seed ^ 0x5eed, (i % (n / 3).max(1)) as u64)
                        )),
                        s(&cpr),
                        Value::I32(age),
                        Value::Date(days(year, mon, 1 + ((r >> 32) % 28) as u32)),
                        Value::Dec(((r >> 40) % 4000) as i128 + 25),
                        s(PROVIDERS[((r >> 48) % PROVIDERS.len() as u64) as usize]),
                    ],
                    late: month == MONTHS - 1,
                }
            })
            .collect(),
        _ => IT_DOMAINS
            .iter()
            .enumerate()
            .flat_map(|(d, domain)| (0..3).map(move |k| (d, *domain, k)))
            .map(|(d, domain, k)| {
                let r = mix(seed, (d * 3 + k) as u64);
                let status = match r % 10 {
                    0..=5 => "anvender",
                    6..=7 => "sekundær anvendelse",
                    _ => "anvender ikke",
                };
                Row {
                    values: vec![
                        s(code),
                        s(domain),
                        s(&format!("{domain} system {}", ["A", "B", "C"][k])),
                        s(VENDORS[((r >> 8) % VENDORS.len() as u64) as usize]),
                        s(status),
                    ],
                    late: d >= 12,
                }
            })
            .collect(),
    }
}

fn to_batch(schema: &SchemaRef, def: &DatasetDef, rows: &[Row]) -> Result<RecordBatch> {
    let columns = def
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| column(c.data_type, rows.iter().map(|r| &r.values[i])))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn column<'a>(data_type: ColumnType, values: impl Iterator<Item = &'a Value>) -> Result<ArrayRef> {
    Ok(match data_type {
        ColumnType::Int32 => {
            let mut b = Int32Builder::new();
            values.for_each(|v| {
                b.append_option(if let Value::I32(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ColumnType::Int64 => {
            let mut b = Int64Builder::new();
            values.for_each(|v| {
                b.append_option(if let Value::I64(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ColumnType::Float64 => {
            let mut b = Float64Builder::new();
            values.for_each(|v| {
                b.append_option(if let Value::F64(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ColumnType::Decimal { precision, scale } => {
            let mut b = Decimal128Builder::new();
            values.for_each(|v| {
                b.append_option(if let Value::Dec(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish().with_precision_and_scale(precision, scale)?)
        }
        ColumnType::Date => {
            let mut b = Date32Builder::new();
            values.for_each(|v| {
                b.append_option(if let Value::Date(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ColumnType::String | ColumnType::Boolean => {
            let mut b = StringBuilder::new();
            values.for_each(|v| {
                b.append_option(if let Value::Str(x) = v {
                    Some(x.as_str())
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
    })
}

/// The Arrow schema the demo writes for `def`.
pub fn arrow_schema(def: &DatasetDef) -> SchemaRef {
    Arc::new(Schema::new(
        def.columns
            .iter()
            .map(|c| {
                let nullable = !(c.name == def.tenant_column || def.key_columns.contains(&c.name));
                Field::new(&c.name, arrow_type(c.data_type), nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow type of a catalogue column type.
pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        ColumnType::Date => DataType::Date32,
        ColumnType::Boolean => DataType::Boolean,
    }
}

fn year_month(month_index: usize) -> (i32, i32) {
    (
        2023 + (month_index / 12) as i32,
        1 + (month_index % 12) as i32,
    )
}

fn days(year: i32, month: i32, day: u32) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1);
    let date = chrono::NaiveDate::from_ymd_opt(year, month as u32, day);
    match (date, epoch) {
        (Some(d), Some(e)) => (d - e).num_days() as i32,
        _ => 0,
    }
}

/// A demo municipality's population (synthetic, deterministic): the four largest cities
/// near their real size, the others spread log-normally around 45,000 (about the real
/// median), between 1,800 and 250,000.
pub fn population(code: &str) -> f64 {
    match code {
        "0101" => 660_000.0,
        "0751" => 365_000.0,
        "0851" => 222_000.0,
        "0461" => 207_000.0,
        _ => {
            let h = hash(&["population", code]);
            let u = |k: u64| (mix(h, k) % 10_000) as f64 / 10_000.0;
            let z = (u(1) + u(2) + u(3) - 1.5) * 2.0;
            (45_000.0 * (0.8 * z).exp())
                .clamp(1_800.0, 250_000.0)
                .round()
        }
    }
}

/// SplitMix64 over a seed and an index: deterministic, well spread.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the parts: a stable seed across runs and platforms.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

const ACCOUNTS: [(&str, &str); 10] = [
    ("0.25.10", "1.0"),
    ("3.22.01", "1.0"),
    ("3.22.01", "2.2"),
    ("5.22.07", "1.0"),
    ("5.22.07", "4.0"),
    ("5.30.27", "4.0"),
    ("5.32.32", "1.0"),
    ("5.57.72", "5.2"),
    ("6.45.51", "1.0"),
    ("6.45.51", "2.9"),
];
const DEPARTMENTS: [&str; 6] = [
    "Borgerservice",
    "Skole og dagtilbud",
    "Ældre og sundhed",
    "Teknik og miljø",
    "Jobcenter",
    "Økonomi og HR",
];
const JOB_CATEGORIES: [&str; 5] = [
    "Social- og sundhedshjælper",
    "Lærer",
    "Pædagog",
    "Administrativ medarbejder",
    "Leder",
];
const PROVIDERS: [&str; 4] = [
    "Kommunal hjemmepleje",
    "Privat leverandør A",
    "Privat leverandør B",
    "Frit valg C",
];
const VENDORS: [&str; 6] = ["KMD", "Netcompany", "Fujitsu", "EG", "Systematic", "Visma"];

fn col(
    name: &str,
    data_type: ColumnType,
    classification: Classification,
    description: &str,
) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        data_type,
        classification,
        description: description.into(),
        constraint: None,
    }
}

fn tenant_col() -> ColumnDef {
    col(
        TENANT,
        ColumnType::String,
        Classification::Public,
        "Kommunekode (fire cifre), fx 0101",
    )
}

#[allow(clippy::too_many_arguments)]
fn def(
    id: &str,
    title_da: &str,
    title_en: &str,
    description_da: &str,
    description_en: &str,
    min_nsis: NsisLevel,
    key_columns: &[&str],
    columns: Vec<ColumnDef>,
) -> DatasetDef {
    let dataset_id = DatasetId::parse(id).unwrap_or_else(|_| unreachable_id(id));
    let domain = dataset_id.domain().to_owned();
    DatasetDef {
        location: id.replace('.', "/"),
        read_role: format!("laes-{domain}"),
        domain,
        id: dataset_id,
        title_da: title_da.into(),
        title_en: title_en.into(),
        description_da: description_da.into(),
        description_en: description_en.into(),
        tenant_column: TENANT.into(),
        min_nsis,
        key_columns: key_columns.iter().map(|k| (*k).to_owned()).collect(),
        columns,
    }
}

#[allow(clippy::panic)]
fn unreachable_id(id: &str) -> DatasetId {
    panic!("demo dataset id {id} is invalid")
}

fn posteringer_def() -> DatasetDef {
    use Classification::Public;
    use ColumnType::*;
    def(
        "oekonomi.posteringer",
        "Økonomiske posteringer",
        "Economy postings",
        "Bogførte posteringer efter den autoriserede kontoplan (funktion og art).",
        "Booked postings by the authorised municipal chart of accounts (function and cost type).",
        NsisLevel::Low,
        &["posteringsid"],
        vec![
            tenant_col(),
            col("posteringsid", Int64, Public, "Postering"),
            col("aar", Int32, Public, "Regnskabsår"),
            col("maaned", Int32, Public, "Måned (1-12)"),
            col("bogfoeringsdato", Date, Public, "Bogføringsdato"),
            col(
                "funktion",
                String,
                Public,
                "Funktion i den autoriserede kontoplan, fx 5.22.07",
            ),
            col(
                "art",
                String,
                Public,
                "Art (omkostningstype), fx 1.0 lønninger",
            ),
            col(
                "beloeb",
                Decimal {
                    precision: 18,
                    scale: 2,
                },
                Public,
                "Beløb i kr.",
            ),
            col("omkostningssted", String, Public, "Omkostningssted"),
        ],
    )
}

fn fravaer_def() -> DatasetDef {
    use Classification::Public;
    use ColumnType::*;
    def(
        "personale.fravaer",
        "Fravær",
        "Staff absence",
        "Fraværsdage og årsværk pr. måned, afdeling og stillingskategori.",
        "Absence days and full-time equivalents per month, department and job category.",
        NsisLevel::Low,
        &["aar", "maaned", "organisationsenhed", "stillingskategori"],
        vec![
            tenant_col(),
            col("aar", Int32, Public, "År"),
            col("maaned", Int32, Public, "Måned (1-12)"),
            col("afdeling", String, Public, "Afdeling"),
            ColumnDef {
                constraint: Some(ORG_UNIT_CONSTRAINT.into()),
                ..col(
                    "organisationsenhed",
                    String,
                    Public,
                    "Organisationsenhedens id",
                )
            },
            col("stillingskategori", String, Public, "Stillingskategori"),
            col("fravaersdage", Float64, Public, "Fraværsdage"),
            col("aarsvaerk", Float64, Public, "Årsværk (fuldtidsstillinger)"),
        ],
    )
}

fn befolkning_def() -> DatasetDef {
    use Classification::Public;
    use ColumnType::*;
    def(
        "borger.befolkning",
        "Befolkning",
        "Population",
        "Folketal pr. kvartal efter alder og køn.",
        "Population per quarter by age and sex.",
        NsisLevel::Low,
        &["aar", "kvartal", "alder", "koen"],
        vec![
            tenant_col(),
            col("aar", Int32, Public, "År"),
            col("kvartal", Int32, Public, "Kvartal (1-4)"),
            col("alder", Int32, Public, "Alder i år"),
            col("koen", String, Public, "Køn (K/M)"),
            col("antal", Int64, Public, "Antal borgere"),
        ],
    )
}

fn hjemmepleje_def() -> DatasetDef {
    use Classification::{Personal, Public, Sensitive};
    use ColumnType::*;
    def(
        "aeldre.hjemmepleje",
        "Visitationer til hjemmepleje",
        "Home-care visitations",
        "Visiterede timer til hjemmepleje pr. borger og leverandør.",
        "Visited home-care hours per citizen and provider.",
        NsisLevel::Substantial,
        &["visitationsid"],
        vec![
            tenant_col(),
            col("visitationsid", Int64, Public, "Visitation"),
            col("borger_id", String, Personal, "Pseudonymt borger-id"),
            col("cpr", String, Sensitive, "CPR-nummer"),
            col("alder", Int32, Personal, "Borgerens alder"),
            col("visitationsdato", Date, Public, "Visitationsdato"),
            col(
                "visiterede_timer",
                Decimal {
                    precision: 10,
                    scale: 2,
                },
                Public,
                "Visiterede timer pr. uge",
            ),
            col("leverandoer", String, Public, "Leverandør"),
        ],
    )
}

fn it_systemer_def() -> DatasetDef {
    use Classification::Public;
    use ColumnType::*;
    def(
        "infrastruktur.it_systemer",
        "Kommunernes it-systemer",
        "Municipal IT systems",
        "Hvilke it-systemer kommunen anvender i hvert af 14 domæner.",
        "Which IT systems the municipality uses in each of 14 domains.",
        NsisLevel::Low,
        &["domaene", "system"],
        vec![
            tenant_col(),
            col("domaene", String, Public, "Domæne"),
            col("system", String, Public, "System"),
            col("leverandoer", String, Public, "Leverandør"),
            col(
                "status",
                String,
                Public,
                "anvender, anvender ikke eller sekundær anvendelse",
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_rows_are_deterministic_and_keys_unique() {
        for def in datasets() {
            let a = generate(&def, 50).map(|(x, y)| (x.len(), y.len()));
            assert_eq!(a.ok(), Some((98, 98)), "{}", def.id);
        }
        let ids = |code: &str| -> Vec<String> {
            rows_for("aeldre.hjemmepleje", code, 50)
                .iter()
                .map(|r| match &r.values[3] {
                    Value::Str(s) => s.clone(),
                    _ => String::new(),
                })
                .collect()
        };
        assert_eq!(ids("0101"), ids("0101"));
        assert_ne!(ids("0101"), ids("0147"));
        let mut keys: Vec<(i32, i32, i32, String)> = rows_for("borger.befolkning", "0101", 4800)
            .iter()
            .filter_map(
                |r| match (&r.values[1], &r.values[2], &r.values[3], &r.values[4]) {
                    (Value::I32(a), Value::I32(q), Value::I32(g), Value::Str(s)) => {
                        Some((*a, *q, *g, s.clone()))
                    }
                    _ => None,
                },
            )
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn absence_rows_have_unique_keys_and_several_units_per_job_category() {
        let text = |r: &Row, i: usize| match &r.values[i] {
            Value::Str(s) => s.clone(),
            _ => String::new(),
        };
        let month = |r: &Row| match (&r.values[1], &r.values[2]) {
            (Value::I32(a), Value::I32(m)) => a * 12 + m,
            _ => 0,
        };
        let rows = rows_for("personale.fravaer", "0101", 2000);
        let mut keys: Vec<(i32, String, String)> = rows
            .iter()
            .map(|r| (month(r), text(r, 4), text(r, 5)))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!((n, keys.len()), (1080, 1080));
        for small in [30, 40, 120] {
            let rows = rows_for("personale.fravaer", "0101", small);
            for category in JOB_CATEGORIES {
                let units: std::collections::BTreeSet<String> = rows
                    .iter()
                    .filter(|r| text(r, 5) == category)
                    .map(|r| text(r, 4))
                    .collect();
                assert_eq!(units.len(), 6, "{small} rows, {category}");
            }
        }
    }

    #[test]
    fn it_systems_cover_14_domains_with_the_three_statuses() {
        let rows = rows_for("infrastruktur.it_systemer", "0101", 0);
        assert_eq!(rows.len(), 42);
        assert!(rows.iter().any(|r| r.late) && rows.iter().any(|r| !r.late));
    }
}
