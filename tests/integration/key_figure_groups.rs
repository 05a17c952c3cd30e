//! Comparison groups (region, size band, country) and the disclosure test of issue 15:
//! generated data with small municipalities, rare categories and a dominant unit; every
//! published cell has enough contributing units and no dominant one; no suppressed cell
//! can be solved from everything published across several requests (all, each region,
//! each size band), including a region-versus-band differencing attempt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use dap_schema::{NsisLevel, municipalities};
use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

const ID: &str = "fravaer-pr-aarsvaerk";
const YEAR: &str = "2026";
const RARE: &str = "Tandplejer";

fn token(app: &TestApp, municipality: &str) -> String {
    app.token(municipality, &[], NsisLevel::Low)
}

fn region_of(code: &str) -> u16 {
    municipalities()
        .iter()
        .find(|m| m.code.as_str() == code)
        .map(|m| m.region.code)
        .expect("municipality")
}

/// The size band of a population, by the documented bounds.
fn band_of(population: f64) -> &'static str {
    match population {
        p if p < 20_000.0 => "0-19999",
        p if p < 40_000.0 => "20000-39999",
        p if p < 60_000.0 => "40000-59999",
        p if p < 100_000.0 => "60000-99999",
        _ => "100000-",
    }
}

/// One generated absence row: municipality, unit, category, days.
type Generated = (String, String, String, f64);

/// Year 2026 of `personale.fravaer`: every seventh municipality is small (one unit per
/// category), the category `Leder` is rare (one or two units, in every third
/// municipality), `Tandplejer` occurs in three municipalities with one unit each, and in
/// every eleventh municipality one unit holds almost all of the `Lærer` absence.
fn generated() -> Vec<Generated> {
    let mut rows = Vec::new();
    for (i, m) in municipalities().iter().enumerate() {
        let code = m.code.as_str();
        let small = i % 7 == 0;
        let mut categories = vec![("Lærer", if small { 1 } else { 3 + i % 4 })];
        categories.push(("Pædagog", if small { 1 } else { 4 + i % 3 }));
        if i % 3 == 0 {
            categories.push(("Leder", 1 + i % 2));
        }
        if ["0101", "0147", "0751"].contains(&code) {
            categories.push((RARE, 1));
        }
        for (c, (category, units)) in categories.into_iter().enumerate() {
            for u in 0..units {
                let dominant = category == "Lærer" && i % 11 == 5 && u == 0 && !small;
                let days = if dominant {
                    5_000.0
                } else {
                    10.0 + (u * 3 + i % 5) as f64
                };
                rows.push((
                    code.to_owned(),
                    format!("{code}-gen-{c}-{u}"),
                    category.to_owned(),
                    days,
                ));
            }
        }
    }
    rows
}

async fn append(app: &TestApp, rows: &[Generated]) -> u64 {
    let def = dap_lake::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == "personale.fravaer")
        .expect("fravaer");
    let schema = dap_lake::demo::arrow_schema(&def);
    let text = |f: fn(&Generated) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        text(|r| &r.0),
        Arc::new(Int32Array::from(vec![2026; n])),
        Arc::new(Int32Array::from(vec![1; n])),
        text(|_| "Genereret"),
        text(|r| &r.1),
        text(|r| &r.2),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(Float64Array::from(vec![5.0; n])),
    ];
    let batch = RecordBatch::try_new(schema, columns).expect("batch");
    let table = deltalake::open_table(app.lake_url("personale.fravaer"))
        .await
        .expect("open");
    let table = table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .expect("append");
    table.version().expect("version") as u64
}

/// The key figure for year 2026, once the new table version is served.
async fn answer(app: &TestApp, caller: &str, group: &str, version: u64) -> Value {
    for _ in 0..60 {
        let answer = app
            .get(
                &format!("/api/v1/key-figures/{ID}?year={YEAR}&group={group}"),
                Some(&token(app, caller)),
            )
            .await;
        assert_eq!(answer.status, 200, "{caller} {group}: {}", answer.body);
        if answer.body["table_versions"]["personale.fravaer"].as_u64() == Some(version) {
            return answer.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("version {version} never served");
}

/// A cell's area: `M0101`, `R1084`, `S20000-39999` or `C`.
fn area(cell: &Value) -> String {
    match cell["area"].as_str() {
        Some("municipality") => format!("M{}", cell["municipality"].as_str().unwrap_or("")),
        Some("region") => format!("R{}", cell["area_id"].as_str().unwrap_or("")),
        Some("size") => format!("S{}", cell["area_id"].as_str().unwrap_or("")),
        _ => "C".into(),
    }
}

fn column(cell: &Value) -> String {
    cell["dimensions"]["stillingskategori"]
        .as_str()
        .unwrap_or("total")
        .to_owned()
}

/// Which areas' totals a municipality's cells add up to.
struct Groups {
    band: HashMap<String, &'static str>,
}

impl Groups {
    fn of(&self, municipality: &str) -> Vec<String> {
        let mut out = vec!["C".to_owned(), format!("R{}", region_of(municipality))];
        if let Some(b) = self.band.get(municipality) {
            out.push(format!("S{b}"));
        }
        out
    }
}

/// Suppressed cells that a linear combination of the published relations determines
/// (Gaussian elimination, written here independently of the lake's code).
fn determined(
    relations: &[Vec<((String, String), f64)>],
    suppressed: &BTreeSet<(String, String)>,
) -> Vec<(String, String)> {
    let unknowns: Vec<&(String, String)> = suppressed.iter().collect();
    let mut matrix: Vec<Vec<f64>> = relations
        .iter()
        .map(|r| {
            let mut row = vec![0.0; unknowns.len()];
            for (key, coefficient) in r {
                if let Some(i) = unknowns.iter().position(|u| *u == key) {
                    row[i] += coefficient;
                }
            }
            row
        })
        .collect();
    let mut pivot = 0;
    for col in 0..unknowns.len() {
        let Some(p) = (pivot..matrix.len()).find(|&r| matrix[r][col].abs() > 1e-9) else {
            continue;
        };
        matrix.swap(pivot, p);
        let scale = matrix[pivot][col];
        matrix[pivot].iter_mut().for_each(|x| *x /= scale);
        let pivot_row = matrix[pivot].clone();
        for (r, row) in matrix.iter_mut().enumerate() {
            let f = row[col];
            if r != pivot && f.abs() > 1e-9 {
                row.iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(x, p)| *x -= f * p);
            }
        }
        pivot += 1;
    }
    matrix
        .iter()
        .filter_map(|row| {
            let nonzero: Vec<usize> = (0..row.len()).filter(|&i| row[i].abs() > 1e-9).collect();
            match nonzero.as_slice() {
                [only] => Some(unknowns[*only].clone()),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn no_suppressed_cell_can_be_solved_across_groups_and_requests() {
    // Arrange: generated 2026 data with small municipalities, rare categories and a
    // dominant unit; the size bands of the latest population year, from the oracle.
    let app = spawn_app().await;
    let rows = generated();
    let version = append(&app, &rows).await;
    let population = app
        .oracle(
            "borger.befolkning",
            "SELECT kommunekode m, CAST(SUM(antal) AS DOUBLE) p FROM t \
             WHERE kvartal = 4 AND aar = (SELECT MAX(aar) FROM t WHERE kvartal = 4) GROUP BY 1",
        )
        .await;
    let groups = Groups {
        band: population
            .iter()
            .map(|r| {
                let m = r["m"].as_str().unwrap_or_default().to_owned();
                (m, band_of(r["p"].as_f64().unwrap_or_default()))
            })
            .collect(),
    };
    // One caller per region and per band.
    let mut callers: BTreeMap<String, (String, &str)> = BTreeMap::new();
    for m in municipalities() {
        let code = m.code.as_str().to_owned();
        callers
            .entry(format!("R{}", m.region.code))
            .or_insert((code.clone(), "region"));
        callers
            .entry(format!("S{}", groups.band[&code]))
            .or_insert((code, "size"));
    }

    // Act: everything a set of municipalities can see.
    let mut answers = vec![answer(&app, "0101", "all", version).await];
    for (caller, group) in callers.values() {
        answers.push(answer(&app, caller, group, version).await);
    }

    // Assert 1: the groups hold the right municipalities and one total each.
    for (body, (caller, group)) in answers[1..].iter().zip(callers.values()) {
        let shown: BTreeSet<String> = body["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .filter_map(|c| c["municipality"].as_str().map(str::to_owned))
            .collect();
        let expected: BTreeSet<String> = rows
            .iter()
            .map(|r| r.0.clone())
            .filter(|m| match *group {
                "region" => region_of(m) == region_of(caller),
                _ => groups.band[m] == groups.band[caller],
            })
            .collect();
        assert_eq!(shown, expected, "{caller} {group}");
        let totals: BTreeSet<String> = body["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .filter(|c| c["area"] == *group)
            .map(area)
            .collect();
        assert_eq!(totals.len(), 1, "{caller} {group}: {totals:?}");
        assert!(body["group_name"].is_string(), "{caller} {group}");
    }

    // The oracle: contributing units and the largest unit's share per area and column.
    let mut units: HashMap<(String, String), HashMap<String, f64>> = HashMap::new();
    for (m, unit, category, days) in &rows {
        let mut areas = groups.of(m);
        areas.push(format!("M{m}"));
        for a in areas {
            for col in [category.as_str(), "total"] {
                *units
                    .entry((a.clone(), col.to_owned()))
                    .or_default()
                    .entry(unit.clone())
                    .or_default() += days;
            }
        }
    }

    // Assert 2: one status per cell across all answers; every published cell has at
    // least 3 units and no unit above 80 %; small and dominated cells are withheld.
    let mut status: BTreeMap<(String, String), (String, Value)> = BTreeMap::new();
    for body in &answers {
        for cell in body["cells"].as_array().expect("cells") {
            let key = (area(cell), column(cell));
            let seen = (
                cell["status"].as_str().unwrap_or_default().to_owned(),
                cell["value"].clone(),
            );
            if let Some(before) = status.insert(key.clone(), seen.clone()) {
                assert_eq!(before, seen, "{key:?} differs between requests");
            }
        }
    }
    let mut suppressed = BTreeSet::new();
    for (key, (state, value)) in &status {
        let contributions = &units[key];
        let total: f64 = contributions.values().sum();
        let largest = contributions.values().copied().fold(0.0, f64::max);
        match state.as_str() {
            "published" => {
                assert!(
                    contributions.len() >= 3,
                    "{key:?}: {} units",
                    contributions.len()
                );
                assert!(largest <= 0.8 * total, "{key:?}: dominated");
                // The value is the area's absence per full-time employee (5.0 each row).
                let rows_in = rows
                    .iter()
                    .filter(|r| {
                        let areas = groups.of(&r.0);
                        (key.0 == format!("M{}", r.0) || areas.contains(&key.0))
                            && (key.1 == "total" || key.1 == r.2)
                    })
                    .count();
                let expected = total / (5.0 * rows_in as f64);
                let got = value.as_f64().unwrap_or(f64::NAN);
                assert!(
                    (got - expected).abs() < 1e-6 * expected,
                    "{key:?}: {got} != {expected}"
                );
            }
            "suppressed" => {
                suppressed.insert(key.clone());
            }
            other => panic!("{key:?}: {other}"),
        }
        if contributions.len() < 3 || largest > 0.8 * total {
            assert_eq!(state, "suppressed", "{key:?} must be withheld");
        }
    }
    assert!(
        suppressed.iter().any(|(_, c)| c == RARE),
        "the rare category is withheld"
    );

    // Assert 3: the published relations determine no suppressed cell.
    let present: BTreeSet<&(String, String)> = status.keys().collect();
    let columns: BTreeSet<String> = status.keys().map(|k| k.1.clone()).collect();
    let areas: BTreeSet<String> = status.keys().map(|k| k.0.clone()).collect();
    let mut relations = Vec::new();
    for total in areas.iter().filter(|a| !a.starts_with('M')) {
        for col in &columns {
            let key = (total.clone(), col.clone());
            if !present.contains(&key) {
                continue;
            }
            let mut relation: Vec<_> = areas
                .iter()
                .filter(|a| a.starts_with('M') && groups.of(&a[1..]).contains(total))
                .map(|a| (a.clone(), col.clone()))
                .filter(|k| present.contains(k))
                .map(|k| (k, 1.0))
                .collect();
            relation.push((key, -1.0));
            relations.push(relation);
        }
    }
    for a in &areas {
        let total = (a.clone(), "total".to_owned());
        if present.contains(&total) {
            let mut relation: Vec<_> = columns
                .iter()
                .filter(|c| *c != "total")
                .map(|c| (a.clone(), c.clone()))
                .filter(|k| present.contains(k))
                .map(|k| (k, 1.0))
                .collect();
            relation.push((total, -1.0));
            relations.push(relation);
        }
    }
    let solved = determined(&relations, &suppressed);
    assert!(
        solved.is_empty(),
        "solvable from published cells: {solved:?}"
    );

    // Assert 4: the differencing attempt. For a withheld municipality cell, take its
    // region's total (one request) and subtract the region's other municipalities as
    // published, using the size-band requests for any the region request withheld: some
    // other term stays withheld, so the difference is never the cell.
    for (a, col) in suppressed.iter().filter(|k| k.0.starts_with('M')) {
        let m = &a[1..];
        let region = (format!("R{}", region_of(m)), col.clone());
        let others: Vec<(String, String)> = areas
            .iter()
            .filter(|x| x.starts_with('M') && *x != a && region_of(&x[1..]) == region_of(m))
            .map(|x| (x.clone(), col.clone()))
            .filter(|k| present.contains(k))
            .collect();
        let unknown_terms = others.iter().filter(|k| suppressed.contains(*k)).count()
            + usize::from(!present.contains(&region) || suppressed.contains(&region));
        assert!(
            unknown_terms >= 1,
            "{a} {col}: region total minus the others gives it"
        );
    }
}

#[tokio::test]
async fn region_and_size_totals_equal_the_oracle_and_groups_are_refused_when_wrong() {
    let app = spawn_app().await;
    let caller = token(&app, "0101");
    let body = app
        .get(
            "/api/v1/key-figures/nettoudgift-pr-indbygger?year=2025&group=region",
            Some(&caller),
        )
        .await;
    assert_eq!(body.status, 200, "{}", body.body);
    let body = body.body;
    assert_eq!(body["group"], "region");
    assert_eq!(body["group_name"], "Region Hovedstaden");
    let o_num = app
        .oracle(
            "oekonomi.posteringer",
            "SELECT kommunekode m, funktion f, CAST(SUM(beloeb) AS DOUBLE) v FROM t WHERE aar = 2025 GROUP BY 1, 2",
        )
        .await;
    let o_den = app
        .oracle(
            "borger.befolkning",
            "SELECT kommunekode m, CAST(SUM(antal) AS DOUBLE) d FROM t WHERE aar = 2025 AND kvartal = 4 GROUP BY 1",
        )
        .await;
    let in_region = |m: &str| region_of(m) == 1084;
    let den: f64 = o_den
        .iter()
        .filter(|r| in_region(r["m"].as_str().unwrap_or_default()))
        .filter_map(|r| r["d"].as_f64())
        .sum();
    let mut checked = 0;
    for cell in body["cells"].as_array().expect("cells") {
        if cell["area"] == "municipality" {
            assert!(in_region(cell["municipality"].as_str().unwrap_or_default()));
        }
        if cell["area"] != "region" || cell["status"] != "published" || cell["total"] == true {
            continue;
        }
        assert_eq!(cell["area_id"], "1084");
        assert_eq!(cell["name"], "Region Hovedstaden");
        let f = cell["dimensions"]["funktion"].as_str().unwrap_or_default();
        let num: f64 = o_num
            .iter()
            .filter(|r| r["f"] == f && in_region(r["m"].as_str().unwrap_or_default()))
            .filter_map(|r| r["v"].as_f64())
            .sum();
        let got = cell["value"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (got - num / den).abs() <= 1e-6 * (1.0 + got.abs()),
            "{f}: {got} != {}",
            num / den
        );
        checked += 1;
    }
    assert!(checked > 0, "some region cells are published");
    // Ranks and quartiles are over the group's published municipality values.
    for s in body["statistics"].as_array().expect("statistics") {
        if let (Some(q1), Some(median), Some(q3)) =
            (s["q1"].as_f64(), s["median"].as_f64(), s["q3"].as_f64())
        {
            assert!(q1 <= median && median <= q3, "{s}");
        }
        assert!(s["published"].as_u64().unwrap_or_default() <= 29);
    }
    // The country group: the caller and the country only.
    let country = app
        .get(
            "/api/v1/key-figures/infrastruktur-andel-domaener?group=country",
            Some(&caller),
        )
        .await;
    assert_eq!(country.status, 200, "{}", country.body);
    for cell in country.body["cells"].as_array().expect("cells") {
        assert!(
            cell["area"] == "country" || cell["municipality"] == "0101",
            "{cell}"
        );
    }
    // Bad groups and years say what is expected.
    for (query, expected) in [
        ("group=province", "all, region, size, country"),
        ("year=2025", "no year dimension"),
    ] {
        let answer = app
            .get(
                &format!("/api/v1/key-figures/infrastruktur-andel-domaener?{query}"),
                Some(&caller),
            )
            .await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{query}: {}",
            answer.body
        );
    }
}
