//! Decisions of the access policy: roles, assurance, municipalities.

mod decisions {
    use std::collections::BTreeSet;

    use dap_schema::{Classification, ColumnDef, ColumnType, DatasetId, NsisLevel};

    use super::super::*;
    use crate::CallerKind;
    use crate::roles;

    fn dataset() -> Arc<DatasetDef> {
        let col = |name: &str, classification| ColumnDef {
            name: name.into(),
            data_type: ColumnType::String,
            classification,
            description: String::new(),
            constraint: None,
        };
        Arc::new(DatasetDef {
            id: DatasetId::parse("aeldre.hjemmepleje").unwrap_or_else(|e| panic!("{e}")),
            domain: "aeldre".into(),
            title_da: "t".into(),
            title_en: "t".into(),
            description_da: String::new(),
            description_en: String::new(),
            location: "aeldre/hjemmepleje".into(),
            tenant_column: "kommunekode".into(),
            read_role: "laes-aeldre".into(),
            min_nsis: NsisLevel::Substantial,
            key_columns: vec!["id".into()],
            columns: vec![
                col("kommunekode", Classification::Public),
                col("borger_id", Classification::Personal),
                col("cpr", Classification::Sensitive),
            ],
        })
    }

    fn principal(roles: &[&str], nsis: NsisLevel, municipalities: &[&str]) -> Principal {
        let roles: BTreeSet<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let grants = municipalities
            .iter()
            .filter_map(|m| MunicipalityCode::parse(m).ok())
            .map(|m| (m, roles.clone()))
            .collect();
        Principal::from_grants("s".into(), "i".into(), CallerKind::User, grants, nsis)
    }

    #[test]
    fn sensitive_columns_need_the_sensitive_role() {
        let ds = dataset();
        let plain = authorize(
            &principal(&["laes-aeldre"], NsisLevel::High, &["0101"]),
            &ds,
            None,
        );
        assert_eq!(
            plain.map(|s| s.visible_columns().to_vec()).ok(),
            Some(vec!["kommunekode".to_owned(), "borger_id".to_owned()])
        );
        let full = authorize(
            &principal(
                &["laes-aeldre", roles::SENSITIVE],
                NsisLevel::High,
                &["0101"],
            ),
            &ds,
            None,
        );
        assert_eq!(full.map(|s| s.visible_columns().len()).ok(), Some(3));
    }

    #[test]
    fn deny_wins_and_looks_like_not_found() {
        let ds = dataset();
        assert_eq!(
            authorize(
                &principal(&["laes-oekonomi"], NsisLevel::High, &["0101"]),
                &ds,
                None
            )
            .err(),
            Some(Denial::NotFound)
        );
        assert!(matches!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::Low, &["0101"]),
                &ds,
                None
            ),
            Err(Denial::InsufficientAssurance { .. })
        ));
        // Not there for the municipality acted for: not found, whatever the level.
        let mut elsewhere = principal(&["laes-aeldre"], NsisLevel::Low, &["0101"]);
        let other = MunicipalityCode::parse("0751").expect("code");
        elsewhere.municipalities.push(other.clone());
        elsewhere
            .grants
            .insert(other, BTreeSet::from(["laes-oekonomi".to_owned()]));
        assert_eq!(
            authorize(&elsewhere, &ds, Some("0751")).err(),
            Some(Denial::NotFound)
        );
        assert!(matches!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::Low, &["0101"]),
                &ds,
                Some("0751")
            ),
            Err(Denial::MunicipalityNotGranted(_))
        ));
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &["0101", "0147"]),
                &ds,
                None
            )
            .err(),
            Some(Denial::MunicipalityRequired("0101, 0147".into()))
        );
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &["0101"]),
                &ds,
                Some("0751")
            )
            .err(),
            Some(Denial::MunicipalityNotGranted("0751".into()))
        );
        assert_eq!(
            authorize(
                &principal(&["laes-aeldre"], NsisLevel::High, &[]),
                &ds,
                None
            )
            .err(),
            Some(Denial::NotFound)
        );
    }
}

mod grants {
    use std::collections::{BTreeMap, BTreeSet};

    use dap_schema::{Classification, ColumnDef, ColumnType, DatasetId, NsisLevel};

    use super::super::*;
    use crate::CallerKind;

    #[test]
    fn a_role_held_in_one_municipality_opens_nothing_in_another() {
        let dataset = Arc::new(DatasetDef {
            id: DatasetId::parse("oekonomi.posteringer").unwrap_or_else(|e| panic!("{e}")),
            domain: "oekonomi".into(),
            title_da: String::new(),
            title_en: String::new(),
            description_da: String::new(),
            description_en: String::new(),
            location: "x".into(),
            tenant_column: "kommunekode".into(),
            read_role: "laes-oekonomi".into(),
            min_nsis: NsisLevel::Low,
            key_columns: vec![],
            columns: vec![ColumnDef {
                name: "kommunekode".into(),
                data_type: ColumnType::String,
                classification: Classification::Public,
                description: String::new(),
                constraint: None,
            }],
        });
        let code = |c: &str| MunicipalityCode::parse(c).unwrap_or_else(|e| panic!("{e}"));
        let grants = BTreeMap::from([
            (code("0250"), BTreeSet::from(["laes-oekonomi".to_owned()])),
            (code("0101"), BTreeSet::from(["laes-borger".to_owned()])),
        ]);
        let p = Principal::from_grants(
            "s".into(),
            "i".into(),
            CallerKind::User,
            grants,
            NsisLevel::High,
        );
        assert!(can_list(&p, &dataset));
        assert!(authorize(&p, &dataset, Some("0250")).is_ok());
        assert_eq!(
            authorize(&p, &dataset, Some("0101")).err(),
            Some(Denial::NotFound)
        );
        assert!(matches!(
            authorize(&p, &dataset, None),
            Err(Denial::MunicipalityRequired(_))
        ));
    }
}
