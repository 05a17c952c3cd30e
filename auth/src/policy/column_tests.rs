//! Columns follow the same rule as rows: a role opens a column only for the rows it
//! opens, so a column is visible when the role that opens it covers every row of the
//! scope; a role held under a constraint the dataset cannot apply opens no column.

use std::collections::{BTreeMap, BTreeSet};

use dap_schema::{ColumnDef, ColumnType, DatasetId, NsisLevel};

use dap_schema::Classification;

use super::*;
use crate::{CallerKind, roles};

const ORG: &str = "http://sts.kombit.dk/constraints/orgenhed/1";
const KLE: &str = "http://sts.kombit.dk/constraints/kle/1";
const READ: &str = "laes-aeldre";

/// `aeldre.hjemmepleje`-like, with `enhed` declaring the org-unit constraint when
/// `declares_org`.
fn dataset(declares_org: bool) -> Arc<DatasetDef> {
    let col = |name: &str, classification, constraint: Option<&str>| ColumnDef {
        name: name.into(),
        data_type: ColumnType::String,
        classification,
        description: String::new(),
        constraint: constraint.map(str::to_owned),
    };
    Arc::new(DatasetDef {
        id: DatasetId::parse("aeldre.hjemmepleje").unwrap_or_else(|e| panic!("{e}")),
        domain: "aeldre".into(),
        title_da: String::new(),
        title_en: String::new(),
        description_da: String::new(),
        description_en: String::new(),
        location: "aeldre/hjemmepleje".into(),
        tenant_column: "kommunekode".into(),
        read_role: READ.into(),
        min_nsis: NsisLevel::Substantial,
        key_columns: vec!["id".into()],
        columns: vec![
            col("kommunekode", Classification::Public, None),
            col("enhed", Classification::Public, declares_org.then_some(ORG)),
            col("cpr", Classification::Sensitive, None),
        ],
    })
}

type Group<'a> = (&'a [&'a str], &'a [(&'a str, &'a [&'a str])]);

/// A caller of 0101 with one privilege group per entry, as the KOMBIT mapping builds it.
fn principal(groups: &[Group<'_>]) -> Principal {
    let code = MunicipalityCode::parse("0101").unwrap_or_else(|e| panic!("{e}"));
    let mut held: BTreeMap<String, Vec<ConstraintSet>> = BTreeMap::new();
    for (roles, constraints) in groups {
        let set: ConstraintSet = constraints
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect();
        for role in *roles {
            held.entry((*role).to_owned())
                .or_default()
                .push(set.clone());
        }
    }
    let roles: BTreeSet<String> = held.keys().cloned().collect();
    let constrained = held
        .into_iter()
        .filter(|(_, sets)| sets.iter().all(|s| !s.is_empty()))
        .collect::<BTreeMap<_, _>>();
    let mut p = Principal::from_grants(
        "s".into(),
        "i".into(),
        CallerKind::User,
        BTreeMap::from([(code.clone(), roles)]),
        NsisLevel::High,
    );
    if !constrained.is_empty() {
        p.constraints = BTreeMap::from([(code, constrained)]);
    }
    p
}

fn sees_cpr(groups: &[Group<'_>], declares_org: bool) -> Option<bool> {
    authorize(&principal(groups), &dataset(declares_org), None)
        .ok()
        .map(|s| s.can_see("cpr"))
}

#[test]
fn a_sensitive_role_under_a_constraint_the_dataset_cannot_apply_opens_no_column() {
    // The issue: laes-aeldre unconstrained, laes-foelsomme only under org units, which
    // the dataset does not declare.
    let groups: [Group<'_>; 2] = [(&[READ], &[]), (&[roles::SENSITIVE], &[(ORG, &["u1"])])];
    assert_eq!(sees_cpr(&groups, false), Some(false));
    // One group holding both roles under that constraint: nothing at all.
    assert_eq!(
        sees_cpr(&[(&[READ, roles::SENSITIVE], &[(ORG, &["u1"])])], false),
        None
    );
    // A group holding it without constraints widens, as for rows.
    let widened: [Group<'_>; 3] = [
        (&[READ], &[]),
        (&[roles::SENSITIVE], &[(ORG, &["u1"])]),
        (&[roles::SENSITIVE], &[]),
    ];
    assert_eq!(sees_cpr(&widened, false), Some(true));
}

#[test]
fn a_constrained_sensitive_role_opens_its_column_only_when_it_covers_every_row() {
    let cases: [(&[Group<'_>], bool); 7] = [
        // All rows readable, cpr opened for u1 only: hidden.
        (
            &[(&[READ], &[]), (&[roles::SENSITIVE], &[(ORG, &["u1"])])],
            false,
        ),
        // Rows of u1, cpr opened for u1 and u2: visible.
        (
            &[
                (&[READ], &[(ORG, &["u1"])]),
                (&[roles::SENSITIVE], &[(ORG, &["u1", "u2"])]),
            ],
            true,
        ),
        // Rows of u1 and u3, cpr opened for u1: hidden.
        (
            &[
                (&[READ], &[(ORG, &["u1", "u3"])]),
                (&[roles::SENSITIVE], &[(ORG, &["u1"])]),
            ],
            false,
        ),
        // Rows of u1 or u2 (two groups), cpr opened for each (two groups): visible.
        (
            &[
                (&[READ, roles::SENSITIVE], &[(ORG, &["u1"])]),
                (&[READ, roles::SENSITIVE], &[(ORG, &["u2"])]),
            ],
            true,
        ),
        // The same org units, but the sensitive group also carries an undeclared
        // constraint: it opens nothing of this dataset.
        (
            &[
                (&[READ], &[(ORG, &["u1"])]),
                (&[roles::SENSITIVE], &[(ORG, &["u1"]), (KLE, &["27"])]),
            ],
            false,
        ),
        // Rows of u1, cpr opened without constraint: visible.
        (
            &[(&[READ], &[(ORG, &["u1"])]), (&[roles::SENSITIVE], &[])],
            true,
        ),
        // Rows of u1, the sensitive role not held: hidden.
        (&[(&[READ], &[(ORG, &["u1"])])], false),
    ];
    for (groups, visible) in cases {
        assert_eq!(sees_cpr(groups, true), Some(visible), "{groups:?}");
    }
}

#[test]
fn the_columns_of_the_scope_and_of_visible_columns_agree() {
    let p = principal(&[(&[READ], &[]), (&[roles::SENSITIVE], &[(ORG, &["u1"])])]);
    let ds = dataset(true);
    let code = MunicipalityCode::parse("0101").unwrap_or_else(|e| panic!("{e}"));
    let scope = authorize(&p, &ds, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(visible_columns(&p, &ds, &code), scope.visible_columns());
    assert_eq!(scope.visible_columns(), ["kommunekode", "enhed"]);
}

#[test]
fn a_dataset_no_group_can_open_is_not_listed() {
    let undeclared: [Group<'_>; 1] = [(&[READ], &[(KLE, &["27"])])];
    assert!(!can_list(&principal(&undeclared), &dataset(true)));
    let declared: [Group<'_>; 1] = [(&[READ], &[(ORG, &["u1"])])];
    assert!(can_list(&principal(&declared), &dataset(true)));
    assert!(!can_list(&principal(&declared), &dataset(false)));
    let widened: [Group<'_>; 2] = [(&[READ], &[(KLE, &["27"])]), (&[READ], &[])];
    assert!(can_list(&principal(&widened), &dataset(false)));
}
