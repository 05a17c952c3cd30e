//! Validating a delivery and staging it as one Parquet file of the table's types. The
//! whole file is read before anything is written to the table; the first problems (at
//! most [`MAX_PROBLEMS`]) are reported by line and column, and a file with any problem is
//! refused whole. Memory stays bounded by a batch of rows and the set of keys seen.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use dap_schema::{ColumnDef, ColumnType, DatasetDef};
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::compute::{CastOptions, cast_with_options};
use deltalake::arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use serde_json::value::RawValue;

use super::values::{self, Builder, Value};
use super::{Format, MAX_PROBLEMS, Mode, Problem, Rejection};
use crate::{Error, Result};

/// Rows per staged batch.
const BATCH_ROWS: usize = 8192;

/// What staging found: the rows staged, or why the delivery is refused.
pub type Staging = std::result::Result<u64, Rejection>;

/// Reads the delivery at `input`, checks it against the catalogue definition, and writes
/// the rows in the table's types to `output` (Parquet). `tenant` is the caller's
/// municipality: its code is filled in where the file has none, and any other code is a
/// problem. A file of more than `max_rows` rows is refused: the keys seen are kept to
/// find duplicates, so the rows bound the memory a delivery takes, not its bytes (a few
/// kilobytes of Parquet can hold a billion rows).
pub fn stage(
    def: &DatasetDef,
    tenant: &str,
    mode: &Mode,
    format: Format,
    input: &Path,
    output: &Path,
    max_rows: u64,
) -> Result<Staging> {
    let mut validator = Validator::new(def, tenant, mode, output)?;
    validator.max_rows = max_rows;
    if std::fs::metadata(input)?.len() == 0 {
        validator.problem(0, None, "the file is empty".into());
        return validator.finish();
    }
    match format {
        Format::Csv => read_csv(&mut validator, input)?,
        Format::Ndjson => read_ndjson(&mut validator, input)?,
        Format::Parquet => read_parquet(&mut validator, input)?,
    }
    validator.finish()
}

/// The columns a delivery in `mode` writes: every column, or for `delete` the keys and
/// the tenant column.
pub(crate) fn target_columns<'a>(def: &'a DatasetDef, mode: &Mode) -> Vec<&'a ColumnDef> {
    def.columns
        .iter()
        .filter(|c| {
            !matches!(mode, Mode::Delete)
                || c.name == def.tenant_column
                || def.key_columns.contains(&c.name)
        })
        .collect()
}

/// The schema of the staged file: the table's types; keys and tenant are required.
pub(crate) fn staged_schema(def: &DatasetDef, mode: &Mode) -> SchemaRef {
    let full = crate::demo::arrow_schema(def);
    let fields: Vec<_> = target_columns(def, mode)
        .iter()
        .filter_map(|c| full.field_with_name(&c.name).ok().cloned())
        .collect();
    Arc::new(Schema::new(fields))
}

struct Validator<'a> {
    def: &'a DatasetDef,
    tenant: &'a str,
    mode: &'a Mode,
    columns: Vec<&'a ColumnDef>,
    schema: SchemaRef,
    builders: Vec<Builder>,
    buffered: usize,
    rows: u64,
    /// Rows read (staged or not) and the most a delivery may hold.
    read: u64,
    max_rows: u64,
    /// Canonical key → the line it was first seen on.
    keys: HashMap<String, u64>,
    problems: Vec<Problem>,
    more: bool,
    writer: ArrowWriter<File>,
}

impl<'a> Validator<'a> {
    fn new(def: &'a DatasetDef, tenant: &'a str, mode: &'a Mode, output: &Path) -> Result<Self> {
        let columns = target_columns(def, mode);
        let schema = staged_schema(def, mode);
        let writer = ArrowWriter::try_new(File::create(output)?, Arc::clone(&schema), None)
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(Self {
            builders: columns.iter().map(|c| Builder::new(c.data_type)).collect(),
            def,
            tenant,
            mode,
            columns,
            schema,
            buffered: 0,
            rows: 0,
            read: 0,
            max_rows: u64::MAX,
            keys: HashMap::new(),
            problems: Vec::new(),
            more: false,
            writer,
        })
    }

    /// True once enough problems are known, or the file has more rows than a delivery
    /// may hold: reading further tells the caller nothing new.
    fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS || self.read > self.max_rows
    }

    /// Reading stops: the problems listed are not all there are, unless it stopped at
    /// the row limit (which is the one problem then).
    fn stopped(&mut self) {
        if self.read <= self.max_rows {
            self.more = true;
        }
    }

    /// Refuses a file of `rows` rows (known before reading them) or, when `None`, one
    /// whose rows go on past the limit.
    fn too_many_rows(&mut self, rows: Option<u64>) {
        let counted = rows.map_or_else(String::new, |n| format!(" ({n})"));
        let message = format!(
            "the file has more rows{counted} than one delivery may hold ({}, the server's deliveries.max_rows): split it, e.g. by month or by period",
            self.max_rows
        );
        self.problems.push(Problem {
            line: 0,
            column: None,
            message,
        });
    }

    fn problem(&mut self, line: u64, column: Option<&str>, message: String) {
        if self.full() {
            self.more = true;
        } else {
            self.problems.push(Problem {
                line,
                column: column.map(str::to_owned),
                message,
            });
        }
    }

    /// Maps a file's column names to the target columns. Unknown names are problems;
    /// so are target columns missing when `all_required` (a header names every column
    /// the file has). Returns, per file column, the target index it fills.
    fn header(&mut self, names: &[String], all_required: bool) -> Vec<Option<usize>> {
        let mut seen = vec![false; self.columns.len()];
        let mut mapping = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let target = self.columns.iter().position(|c| c.name == name);
            match target {
                Some(i) if seen[i] => {
                    self.problem(1, Some(name), "the column appears twice".into());
                    mapping.push(None);
                }
                Some(i) => {
                    seen[i] = true;
                    mapping.push(Some(i));
                }
                None if self.def.column(name).is_some() => mapping.push(None),
                None => {
                    let valid = self.column_names();
                    self.problem(
                        1,
                        Some(name),
                        format!(
                            "unknown column; the columns of {} are: {valid}",
                            self.def.id
                        ),
                    );
                    mapping.push(None);
                }
            }
        }
        if all_required {
            for (i, c) in self.columns.clone().iter().enumerate() {
                if !seen[i] && c.name != self.def.tenant_column {
                    let what = if matches!(self.mode, Mode::Delete) {
                        "a delete names rows by their key columns"
                    } else {
                        "every column of the dataset must be delivered (an empty value is null)"
                    };
                    self.problem(1, Some(&c.name), format!("missing column: {what}"));
                }
            }
        }
        mapping
    }

    fn column_names(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks one row (cells by target column; `None` is null or absent) and stages it.
    fn row(&mut self, line: u64, cells: Vec<Option<String>>) -> Result<()> {
        self.read += 1;
        if self.read > self.max_rows {
            self.too_many_rows(None);
            return Ok(());
        }
        let before = self.problems.len() + usize::from(self.more);
        let mut values: Vec<Option<Value>> = Vec::with_capacity(self.columns.len());
        for (i, cell) in cells.into_iter().enumerate() {
            let column = self.columns[i];
            let is_tenant = column.name == self.def.tenant_column;
            let required = is_tenant || self.def.key_columns.contains(&column.name);
            // An empty value is null (CSV cannot tell them apart, so its reader gives
            // none), except in a text column that is not part of the key: NDJSON and
            // Parquet can say `""`, and it is kept.
            let keeps_empty = column.data_type == ColumnType::String && !required;
            let cell = cell.filter(|t| keeps_empty || !t.is_empty());
            let replaced = match self.mode {
                Mode::Replace(period) if period.column == column.name => Some(period),
                _ => None,
            };
            let value = match cell {
                None if is_tenant => Some(Value::Text(self.tenant.to_owned())),
                None if required => {
                    self.problem(line, Some(&column.name), "a value is required here".into());
                    None
                }
                None if replaced.is_some() => {
                    let period = replaced.map(ToString::to_string).unwrap_or_default();
                    let message = format!(
                        "a date is required here: a replace writes only rows dated in the period {period}"
                    );
                    self.problem(line, Some(&column.name), message);
                    None
                }
                None => None,
                Some(text) if is_tenant => {
                    if text.trim() == self.tenant {
                        Some(Value::Text(self.tenant.to_owned()))
                    } else {
                        let shown: String = text.chars().take(8).collect();
                        self.problem(line, Some(&column.name), format!(
                            "'{shown}' is not your municipality {}: a delivery writes only its own municipality's rows (leave the column out and dap fills it in)",
                            self.tenant
                        ));
                        None
                    }
                }
                Some(text) => match values::parse(column.data_type, &text) {
                    Ok(value) => Some(value),
                    Err(message) => {
                        self.problem(line, Some(&column.name), message);
                        None
                    }
                },
            };
            values.push(value);
        }
        if let Mode::Replace(period) = self.mode
            && let Some(i) = self.columns.iter().position(|c| c.name == period.column)
            && let Some(Value::Date(day)) = values[i]
            && !(period.first_day()..=period.last_day()).contains(&day)
        {
            self.problem(
                line,
                Some(&period.column),
                format!("the date is outside the period {period} being replaced"),
            );
        }
        self.check_key(line, &values);
        if self.problems.len() + usize::from(self.more) > before {
            return Ok(());
        }
        for (builder, value) in self.builders.iter_mut().zip(&values) {
            builder.append(value.as_ref());
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Keys are unique within the file: a second row with the same key is a problem.
    fn check_key(&mut self, line: u64, values: &[Option<Value>]) {
        let mut key = String::new();
        for name in &self.def.key_columns {
            let Some(i) = self.columns.iter().position(|c| &c.name == name) else {
                return;
            };
            let Some(value) = &values[i] else { return };
            key.push_str(&value.canonical());
            key.push('\u{1f}');
        }
        if let Some(first) = self.keys.get(&key).copied() {
            let names = self.def.key_columns.join(", ");
            self.problem(
                line,
                self.def.key_columns.first().map(String::as_str),
                format!("duplicate key ({names}): the same key is on line {first}; a delivery names each row once"),
            );
        } else {
            self.keys.insert(key, line);
        }
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)?;
        self.writer
            .write(&batch)
            .map_err(|e| Error::Encode(e.to_string()))?;
        self.buffered = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<Staging> {
        if self.problems.is_empty() && !self.more && self.rows == 0 {
            self.problem(
                0,
                None,
                "the file has no rows; a delivery carries at least one".into(),
            );
        }
        if !self.problems.is_empty() {
            return Ok(Err(Rejection {
                problems: self.problems,
                more: self.more,
            }));
        }
        self.flush()?;
        self.writer
            .close()
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(Ok(self.rows))
    }
}

/// CSV with a header line; `,` or `;` as separator (whichever the header uses), `"` quotes.
fn read_csv(v: &mut Validator<'_>, input: &Path) -> Result<()> {
    // Only to choose the separator: a first line that is not UTF-8 is refused below,
    // where the header is read, with how to fix it.
    let mut first = Vec::new();
    BufReader::new(File::open(input)?)
        .take(64 * 1024)
        .read_until(b'\n', &mut first)?;
    let first = String::from_utf8_lossy(&first);
    let delimiter = if first.contains(';') && !first.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(BufReader::new(File::open(input)?));
    let names: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|s| s.trim_start_matches('\u{feff}').to_owned())
            .collect(),
        Err(e) => {
            let message = match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "the header line is not valid UTF-8; save the file as UTF-8 (in Excel: CSV UTF-8), not as UTF-16 or a workbook".into(),
                _ => format!("the header line cannot be read: {e}"),
            };
            v.problem(1, None, message);
            return Ok(());
        }
    };
    let mapping = v.header(&names, true);
    if v.full() {
        return Ok(());
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, csv::Position::line);
                let mut cells = vec![None; v.columns.len()];
                for (field, target) in record.iter().zip(&mapping) {
                    if let Some(i) = target {
                        // CSV has no null but the empty value.
                        cells[*i] = (!field.is_empty()).then(|| field.to_owned());
                    }
                }
                v.row(line, cells)?;
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!(
                        "the line has {len} fields, the header {expected_len}; quote values that contain the separator"
                    ),
                    csv::ErrorKind::Utf8 { .. } => {
                        "the line is not valid UTF-8; save the file as UTF-8".into()
                    }
                    _ => format!("the line cannot be read: {e}"),
                };
                v.problem(line, None, message);
            }
        }
        if v.full() {
            v.stopped();
            return Ok(());
        }
    }
}

/// A JSON number as plain digits, exactly (`5e-06` → `0.000005`, `1.5E3` → `1500`), so
/// that it is parsed like the same number written in CSV. A literal too odd to rewrite
/// is left as it is, to be refused with the column's own message.
fn plain_number(literal: &str) -> String {
    let Some(at) = literal.find(['e', 'E']) else {
        return literal.to_owned();
    };
    let exponent = match literal[at + 1..].parse::<i64>() {
        Ok(e) if e.abs() <= 400 => e,
        _ => return literal.to_owned(),
    };
    let mantissa = &literal[..at];
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", mantissa),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all = format!("{whole}{fraction}");
    // Where the decimal point falls in `all`.
    let point = i64::try_from(whole.len()).unwrap_or(i64::MAX) + exponent;
    let text = match usize::try_from(point) {
        Err(_) | Ok(0) => format!("0.{}{all}", "0".repeat(point.unsigned_abs() as usize)),
        Ok(point) if point >= all.len() => format!("{all}{}", "0".repeat(point - all.len())),
        Ok(point) => format!("{}.{}", &all[..point], &all[point..]),
    };
    format!("{sign}{text}")
}

/// Newline-delimited JSON: one object per line; a missing field is null.
fn read_ndjson(v: &mut Validator<'_>, input: &Path) -> Result<()> {
    let reader = BufReader::new(File::open(input)?);
    let mut unknown_reported = std::collections::HashSet::new();
    for (index, line) in reader.lines().enumerate() {
        let line_no = u64::try_from(index).unwrap_or(u64::MAX) + 1;
        let text = match line {
            Ok(text) => text,
            Err(_) => {
                v.problem(line_no, None, "the line is not valid UTF-8".into());
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        // Values as written: a number's own digits, never a float in between.
        let object = match serde_json::from_str::<HashMap<String, &RawValue>>(&text) {
            Ok(object) => object,
            Err(_) if serde_json::from_str::<serde_json::Value>(&text).is_ok() => {
                v.problem(line_no, None, "each line must be one JSON object".into());
                continue;
            }
            Err(e) => {
                v.problem(line_no, None, format!("the line is not valid JSON: {e}"));
                continue;
            }
        };
        let mut cells = vec![None; v.columns.len()];
        for (name, value) in object {
            let Some(i) = v.columns.iter().position(|c| c.name == name) else {
                if v.def.column(&name).is_none() && unknown_reported.insert(name.clone()) {
                    let valid = v.column_names();
                    v.problem(
                        line_no,
                        Some(&name),
                        format!("unknown column; the columns of {} are: {valid}", v.def.id),
                    );
                }
                continue;
            };
            let literal = value.get().trim();
            cells[i] = match literal.as_bytes().first() {
                Some(b'n') => None,
                Some(b'"') => serde_json::from_str::<String>(literal).ok(),
                Some(b't' | b'f') => Some(literal.to_owned()),
                Some(b'-' | b'0'..=b'9') => Some(plain_number(literal)),
                _ => {
                    v.problem(
                        line_no,
                        Some(&name),
                        "a value must be a string, number, boolean or null".into(),
                    );
                    None
                }
            };
        }
        v.row(line_no, cells)?;
        if v.full() {
            v.stopped();
            return Ok(());
        }
    }
    Ok(())
}

/// Whether values of type `t` are bytes: plain, fixed-size, or dictionary-encoded ones.
fn is_bytes(t: &DataType) -> bool {
    match t {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::Dictionary(_, values) => is_bytes(values),
        _ => false,
    }
}

/// A column of bytes without a string annotation (how some writers store strings) read
/// as the UTF-8 text it holds, as Spark's `binaryAsString` reads it: formatted as it is,
/// it would be hex, and a key would no longer match its row. Bytes that are not UTF-8
/// are a problem, never a null. Any other column as it is.
fn as_text(array: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    if !is_bytes(array.data_type()) {
        return Ok(Arc::clone(array));
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    // Fixed-size bytes cast to text only by way of plain bytes.
    let plain = match array.data_type() {
        DataType::FixedSizeBinary(_) => cast_with_options(array, &DataType::Binary, &strict),
        _ => Ok(Arc::clone(array)),
    };
    plain
        .and_then(|plain| cast_with_options(&plain, &DataType::Utf8, &strict))
        .map_err(|_| {
        format!(
            "the column holds bytes ({}) that are not all UTF-8 text: write text columns as UTF-8 strings",
            array.data_type()
        )
    })
}

/// Parquet: values are read in their file types and checked as their text (so a file
/// that stores a date as text, or an int64 where the table has int32, is accepted when
/// every value fits). Lines are row numbers, from 1.
fn read_parquet(v: &mut Validator<'_>, input: &Path) -> Result<()> {
    let builder = match ParquetRecordBatchReaderBuilder::try_new(File::open(input)?) {
        Ok(builder) => builder,
        Err(e) => {
            v.problem(
                0,
                None,
                format!("the file is not a readable Parquet file: {e}"),
            );
            return Ok(());
        }
    };
    // The footer counts the rows: a file of too many is refused before any is decoded.
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    if rows > v.max_rows {
        v.too_many_rows(Some(rows));
        return Ok(());
    }
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mapping = v.header(&names, true);
    if v.full() {
        return Ok(());
    }
    let reader = match builder.with_batch_size(BATCH_ROWS).build() {
        Ok(reader) => reader,
        Err(e) => {
            v.problem(0, None, format!("the file cannot be read: {e}"));
            return Ok(());
        }
    };
    let options = FormatOptions::default().with_null("");
    let mut row_number: u64 = 0;
    for batch in reader {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                v.problem(
                    row_number + 1,
                    None,
                    format!("the file cannot be read from here: {e}"),
                );
                return Ok(());
            }
        };
        let mut arrays = Vec::with_capacity(mapping.len());
        for (index, target) in mapping.iter().enumerate() {
            let Some(i) = target else { continue };
            match as_text(batch.column(index)) {
                Ok(array) => arrays.push((*i, array)),
                Err(message) => {
                    let name = v.columns[*i].name.clone();
                    v.problem(row_number + 1, Some(&name), message);
                    return Ok(());
                }
            }
        }
        let mut formatters = Vec::with_capacity(arrays.len());
        for (i, array) in &arrays {
            match ArrayFormatter::try_new(array.as_ref(), &options) {
                Ok(f) => formatters.push((*i, array, f)),
                Err(_) => {
                    let name = v.columns[*i].name.clone();
                    v.problem(
                        1,
                        Some(&name),
                        format!("the column's type {} cannot be read", array.data_type()),
                    );
                    return Ok(());
                }
            }
        }
        // Logical nulls: a column of Parquet's null type has no null buffer, and a
        // dictionary's nulls may sit in its values.
        let nulls: Vec<_> = formatters
            .iter()
            .map(|(_, a, _)| a.logical_nulls())
            .collect();
        for row in 0..batch.num_rows() {
            row_number += 1;
            let mut cells = vec![None; v.columns.len()];
            for ((i, _, formatter), nulls) in formatters.iter().zip(&nulls) {
                if !nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    cells[*i] = Some(formatter.value(row).to_string());
                }
            }
            v.row(row_number, cells)?;
            if v.full() {
                v.stopped();
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plain_number;

    /// A JSON number is taken as written: its digits, with an exponent moved into them
    /// (as a float it was `5e-06`, which no decimal column accepts, or a 17-digit amount
    /// rounded at its last digit).
    #[test]
    fn json_numbers_keep_their_digits() {
        for (literal, plain) in [
            ("12.5", "12.5"),
            ("-3", "-3"),
            ("90071992547409.93", "90071992547409.93"),
            ("0.000005", "0.000005"),
            ("5e-06", "0.000005"),
            ("5E-6", "0.000005"),
            ("-1.25e-2", "-0.0125"),
            ("1.5E3", "1500"),
            ("1.5e+1", "15"),
            ("12.345e1", "123.45"),
            ("1e0", "1"),
            ("0.5e1", "05"),
            ("1e999", "1e999"),
        ] {
            assert_eq!(plain_number(literal), plain, "{literal}");
        }
    }
}
