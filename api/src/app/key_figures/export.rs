//! A key-figure table as a file: CSV (semicolon-separated, for Danish Excel) or XLSX.
//! One line per cell. A withheld cell shows the marker `..` and an undefined ratio `-`,
//! never 0 or an empty value; the legend says what the markers mean, the rule and the
//! threshold (CSV: `#` lines before the header; XLSX: a second sheet).

use dap_lake::xlsx::{TableCell, TableSheet, small_workbook};
use dap_openapi::model::key_figures::{KeyFigureCell, KeyFigureTable};

use crate::app::AppError;

/// The marker of a suppressed cell (as Danmarks Statistik marks discretion).
pub const SUPPRESSED: &str = "..";
/// The marker of a cell whose denominator is zero or missing.
pub const NOT_DEFINED: &str = "-";

/// The legend: what the markers mean and the rule the table is published under.
pub fn legend(table: &KeyFigureTable) -> Vec<String> {
    let d = &table.summary.disclosure;
    let mut lines = vec![
        format!(
            "{} ({}), {}",
            table.summary.title.da, table.summary.id, table.summary.unit
        ),
        format!(
            "{SUPPRESSED} = diskretioneret / suppressed: færre end {} bidragydere ({}) eller sekundær diskretionering (aarsag, kun for egen kommune: too_few_units, dominance, complementary)",
            d.min_units, d.unit_column
        ),
        format!("{NOT_DEFINED} = ikke defineret / not defined: nævneren er 0 eller mangler"),
    ];
    if let Some(rule) = &d.dominance {
        lines.push(format!(
            "Dominansregel / dominance rule: de {} største bidragydere må højst have {} % af cellen",
            rule.n, rule.k
        ));
    }
    lines.push(format!(
        "Sammenligningsgruppe / comparison group: {}",
        table.group
    ));
    lines
}

fn header(table: &KeyFigureTable) -> Vec<String> {
    let mut header: Vec<String> = ["kommunekode", "navn", "omraade", "egen"]
        .map(String::from)
        .to_vec();
    header.extend(table.summary.dimensions.iter().map(|d| d.column.clone()));
    header.extend(["i_alt", "vaerdi", "status", "aarsag", "rang"].map(String::from));
    header
}

/// The shown value of a cell: the number, or its marker.
fn shown(cell: &KeyFigureCell) -> Result<f64, &'static str> {
    match (cell.value, cell.status) {
        (Some(v), _) => Ok(v),
        (None, "suppressed") => Err(SUPPRESSED),
        (None, _) => Err(NOT_DEFINED),
    }
}

fn row(table: &KeyFigureTable, c: &KeyFigureCell) -> Vec<TableCell> {
    let text = |s: &str| TableCell::Text(s.to_owned());
    let mut line = vec![
        text(
            c.municipality
                .as_deref()
                .or(c.area_id.as_deref())
                .unwrap_or(""),
        ),
        text(&c.name),
        text(c.area),
        text(if c.own { "ja" } else { "nej" }),
    ];
    line.extend(
        table
            .summary
            .dimensions
            .iter()
            .map(|d| text(c.dimensions.get(&d.column).map_or("", String::as_str))),
    );
    line.push(text(if c.total { "ja" } else { "nej" }));
    line.push(match shown(c) {
        Ok(v) => TableCell::Number(v, table.summary.decimals),
        Err(marker) => text(marker),
    });
    line.push(text(c.status));
    line.push(text(c.reason.unwrap_or("")));
    line.push(text(&c.rank.map(|r| r.to_string()).unwrap_or_default()));
    line
}

/// Semicolon-separated text, CRLF lines: the legend as `#` lines, then the header and
/// one line per cell. Numbers use a decimal point (read with `sep=';', comment='#'`).
pub fn to_csv(table: &KeyFigureTable) -> String {
    let quote = |s: &str| {
        if s.contains([';', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    for line in legend(table) {
        out.push_str("# ");
        out.push_str(&line.replace(['\r', '\n'], " "));
        out.push_str("\r\n");
    }
    out.push_str(&header(table).join(";"));
    out.push_str("\r\n");
    for c in &table.cells {
        let fields: Vec<String> = row(table, c)
            .into_iter()
            .map(|cell| match cell {
                TableCell::Text(s) => quote(&s),
                TableCell::Number(v, _) => v.to_string(),
            })
            .collect();
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    out
}

/// A workbook: sheet `Noegletal` (header and one line per cell, numbers as numbers
/// with the key figure's decimals, markers as text) and sheet `Forklaring` (the legend).
pub fn to_xlsx(table: &KeyFigureTable) -> Result<Vec<u8>, AppError> {
    let sheets = [
        TableSheet {
            name: "Noegletal".into(),
            header: header(table),
            rows: table.cells.iter().map(|c| row(table, c)).collect(),
        },
        TableSheet {
            name: "Forklaring".into(),
            header: vec!["Forklaring / legend".into()],
            rows: legend(table)
                .into_iter()
                .map(|l| vec![TableCell::Text(l)])
                .collect(),
        },
    ];
    small_workbook(&sheets).map_err(AppError::internal)
}
