//! The key figures `dap demo` seeds, over the demo datasets ([`crate::demo`]).

use super::{Aggregate, Denominator, Dimension, Disclosure, Dominance, KeyFigureDef, Quantity};
use crate::predicate::{FilterSpec, Operator};

/// `column = value`.
pub(crate) fn eq(column: &str, value: &str) -> FilterSpec {
    filter(column, Operator::Eq, value)
}

fn filter(column: &str, operator: Operator, value: &str) -> FilterSpec {
    FilterSpec {
        column: column.into(),
        operator,
        values: vec![value.into()],
    }
}

fn dim(column: &str, slice: bool) -> Dimension {
    Dimension {
        column: column.into(),
        slice,
    }
}

/// The demo's key figures.
pub fn demo_key_figures() -> Vec<KeyFigureDef> {
    vec![
        spending_per_inhabitant(),
        absence_per_fte(),
        home_care_hours(),
        infrastructure_share(),
    ]
}

/// Net spending per inhabitant by function: postings over the population at the end of
/// the year (fourth quarter).
fn spending_per_inhabitant() -> KeyFigureDef {
    KeyFigureDef {
        id: "nettoudgift-pr-indbygger".into(),
        title_da: "Nettoudgift pr. indbygger efter funktion".into(),
        title_en: "Net spending per inhabitant by function".into(),
        description_da: "Summen af posteringer pr. år og funktion divideret med folketallet i årets 4. kvartal.".into(),
        description_en: "Sum of postings per year and function divided by the population in the year's fourth quarter.".into(),
        numerator: Quantity {
            dataset: "oekonomi.posteringer".into(),
            aggregate: Aggregate::Sum,
            column: "beloeb".into(),
            filters: Vec::new(),
        },
        denominator: Some(Denominator {
            quantity: Quantity {
                dataset: "borger.befolkning".into(),
                aggregate: Aggregate::Sum,
                column: "antal".into(),
                filters: vec![filter("kvartal", Operator::Eq, "4")],
            },
            follows: vec![("aar".into(), "aar".into())],
        }),
        factor: 1.0,
        dimensions: vec![dim("aar", true), dim("funktion", false)],
        unit: "kr. pr. indbygger".into(),
        decimals: 0,
        disclosure: Disclosure {
            min_units: 3,
            unit_column: "omkostningssted".into(),
            dominance: None,
        },
    }
}

/// Absence days per full-time employee by job category (the demo has no employee ids:
/// the contributing units are organisation units).
fn absence_per_fte() -> KeyFigureDef {
    KeyFigureDef {
        id: "fravaer-pr-aarsvaerk".into(),
        title_da: "Fraværsdage pr. årsværk efter stillingskategori".into(),
        title_en: "Absence days per full-time employee by job category".into(),
        description_da: "Fraværsdage divideret med årsværk pr. år og stillingskategori.".into(),
        description_en: "Absence days divided by full-time equivalents per year and job category."
            .into(),
        numerator: Quantity {
            dataset: "personale.fravaer".into(),
            aggregate: Aggregate::Sum,
            column: "fravaersdage".into(),
            filters: Vec::new(),
        },
        denominator: Some(Denominator {
            quantity: Quantity {
                dataset: "personale.fravaer".into(),
                aggregate: Aggregate::Sum,
                column: "aarsvaerk".into(),
                filters: Vec::new(),
            },
            follows: vec![
                ("aar".into(), "aar".into()),
                ("stillingskategori".into(), "stillingskategori".into()),
            ],
        }),
        factor: 1.0,
        dimensions: vec![dim("aar", true), dim("stillingskategori", false)],
        unit: "dage pr. årsværk".into(),
        decimals: 1,
        disclosure: Disclosure {
            min_units: 3,
            unit_column: "organisationsenhed".into(),
            // No single organisation unit may hold more than 80 % of a cell's absence.
            dominance: Some(Dominance { n: 1, k: 80.0 }),
        },
    }
}

/// Visited home-care hours per visited citizen aged 67 or more, by provider. (The demo
/// population table is too small to hold ages above 67 at the default size, so the
/// denominator is the visited citizens themselves.)
fn home_care_hours() -> KeyFigureDef {
    let age = vec![filter("alder", Operator::Gte, "67")];
    KeyFigureDef {
        id: "hjemmepleje-timer-pr-borger-67".into(),
        title_da: "Visiterede hjemmeplejetimer pr. borger på 67 år og derover".into(),
        title_en: "Visited home-care hours per citizen aged 67 or more".into(),
        description_da: "Visiterede timer pr. uge divideret med antal visiterede borgere på 67+ pr. leverandør.".into(),
        description_en: "Visited hours per week divided by the number of visited citizens aged 67+, per provider.".into(),
        numerator: Quantity {
            dataset: "aeldre.hjemmepleje".into(),
            aggregate: Aggregate::Sum,
            column: "visiterede_timer".into(),
            filters: age.clone(),
        },
        denominator: Some(Denominator {
            quantity: Quantity {
                dataset: "aeldre.hjemmepleje".into(),
                aggregate: Aggregate::CountDistinct,
                column: "borger_id".into(),
                filters: age,
            },
            follows: vec![("leverandoer".into(), "leverandoer".into())],
        }),
        factor: 1.0,
        dimensions: vec![dim("leverandoer", false)],
        unit: "timer pr. borger".into(),
        decimals: 1,
        disclosure: Disclosure {
            min_units: 5,
            unit_column: "borger_id".into(),
            dominance: None,
        },
    }
}

/// Share of the 14 infrastructure domains in which the municipality has a system with
/// each status (`anvender`, `anvender ikke`, `sekundær anvendelse`).
fn infrastructure_share() -> KeyFigureDef {
    KeyFigureDef {
        id: "infrastruktur-andel-domaener".into(),
        title_da: "Andel af de 14 infrastrukturdomæner efter anvendelse".into(),
        title_en: "Share of the 14 infrastructure domains by use".into(),
        description_da: "Antal domæner med et system med status (anvender, anvender ikke, sekundær anvendelse) divideret med antal domæner.".into(),
        description_en: "Domains with a system of each status (in use, not in use, secondary use) divided by the number of domains.".into(),
        numerator: Quantity {
            dataset: "infrastruktur.it_systemer".into(),
            aggregate: Aggregate::CountDistinct,
            column: "domaene".into(),
            filters: Vec::new(),
        },
        denominator: Some(Denominator {
            quantity: Quantity {
                dataset: "infrastruktur.it_systemer".into(),
                aggregate: Aggregate::CountDistinct,
                column: "domaene".into(),
                filters: Vec::new(),
            },
            follows: Vec::new(),
        }),
        factor: 100.0,
        dimensions: vec![dim("status", false)],
        unit: "pct.".into(),
        decimals: 0,
        disclosure: Disclosure {
            min_units: 3,
            unit_column: "system".into(),
            dominance: None,
        },
    }
}
