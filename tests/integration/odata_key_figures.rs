//! Key figures as OData entity sets (`noegletal_<id>`): listed in the service document
//! and `$metadata` for every caller acting for a municipality, and answering exactly the
//! cells `/api/v1/key-figures/{id}` answers (after disclosure control), paged by next
//! links; what the core does not take answers 501.

use serde_json::Value;

use crate::helpers::spawn_app;
use crate::odata::{Auth, odata};

const SET: &str = "noegletal_nettoudgift_pr_indbygger";
const ID: &str = "nettoudgift-pr-indbygger";

/// A REST cell in the OData entity's shape (without the key).
fn as_entity(cell: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("municipality".into(), cell["municipality"].clone());
    out.insert("name".into(), cell["name"].clone());
    out.insert("own".into(), cell["own"].clone());
    for dimension in ["aar", "funktion"] {
        out.insert(dimension.into(), cell["dimensions"][dimension].clone());
    }
    for (property, field) in [
        ("total", "total"),
        ("value", "value"),
        ("value_status", "status"),
        ("suppression_reason", "reason"),
        ("rank", "rank"),
    ] {
        out.insert(property.into(), cell[field].clone());
    }
    Value::Object(out)
}

#[tokio::test]
async fn key_figures_are_entity_sets_with_the_cells_rest_answers() {
    let app = spawn_app().await;
    let token = app.token("0101", &["laes-aeldre"], dap_schema::NsisLevel::Substantial);

    let service = odata(&app, "/odata/", Auth::Bearer(&token), &[]).await;
    let metadata = odata(&app, "/odata/$metadata", Auth::Bearer(&token), &[]).await;
    let mut entities = Vec::new();
    let mut url = format!("/odata/{SET}?$filter=aar%20eq%20'2024'&$count=true");
    let mut pages = 0;
    let mut counted = None;
    while pages < 100 {
        let prefer: &[(&str, &str)] = if pages == 0 {
            &[("prefer", "odata.maxpagesize=250")]
        } else {
            &[]
        };
        let page = odata(&app, &url, Auth::Bearer(&token), prefer).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        counted = counted.or(page.body["@odata.count"].as_u64());
        entities.extend(page.value());
        pages += 1;
        match page.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let plain_count = odata(
        &app,
        &format!("/odata/{SET}/$count?$filter=aar%20eq%20'2024'"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    let rest = app
        .get(
            &format!("/api/v1/key-figures/{ID}?filter=aar:eq:2024"),
            Some(&token),
        )
        .await;

    let sets = service.value();
    let names: Vec<&str> = sets
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|s| s.starts_with("noegletal_"))
        .collect();
    assert!(names.contains(&SET), "{}", service.text);
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        metadata.text.contains(&format!(
            r#"<EntityType Name="{SET}"><Key><PropertyRef Name="cell"/></Key>"#
        )),
        "{}",
        metadata.text
    );
    assert!(
        metadata
            .text
            .contains(r#"<Property Name="funktion" Type="Edm.String"/>"#)
    );
    assert!(
        metadata
            .text
            .contains(r#"<Property Name="value" Type="Edm.Double"/>"#)
    );
    assert_eq!(rest.status, 200, "{}", rest.body);
    let cells = rest.body["cells"].as_array().expect("cells");
    assert!(
        cells.len() > 250,
        "a case that needs paging: {}",
        cells.len()
    );
    assert!(pages > 1);
    assert_eq!(counted, Some(cells.len() as u64));
    assert_eq!(plain_count.text, cells.len().to_string());
    let keys: std::collections::BTreeSet<&str> =
        entities.iter().filter_map(|e| e["cell"].as_str()).collect();
    assert_eq!(keys.len(), entities.len(), "cell keys are unique");
    let without_keys: Vec<Value> = entities
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().map(|o| o.remove("cell"));
            e
        })
        .collect();
    let expected: Vec<Value> = cells.iter().map(as_entity).collect();
    assert_eq!(without_keys, expected);
    assert!(
        entities
            .iter()
            .any(|e| e["value_status"] == "suppressed" && e["value"].is_null())
    );
    assert!(
        entities
            .iter()
            .filter(|e| e["own"] == true)
            .all(|e| e["municipality"] == "0101")
    );
}

#[tokio::test]
async fn what_a_key_figure_does_not_take_is_refused_in_odata_format() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let cases = [
        ("$orderby=value desc", 501, "not_implemented"),
        ("$filter=aar ne '2024'", 501, "not_implemented"),
        (
            "$filter=aar eq '2024' or aar eq '2023'",
            501,
            "not_implemented",
        ),
        ("$select=cpr", 400, "unknown_column"),
        ("$filter=nosuch eq 'x'", 400, "invalid_parameter"),
    ];
    for (query, status, code) in cases {
        let reply = odata(
            &app,
            &format!("/odata/{SET}?{query}"),
            Auth::Bearer(&token),
            &[],
        )
        .await;

        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{query}: {}",
            reply.text
        );
    }
    let selected = odata(
        &app,
        &format!("/odata/{SET}?$select=municipality,value&$top=3"),
        Auth::Bearer(&token),
        &[],
    )
    .await;
    assert_eq!(selected.status, 200, "{}", selected.text);
    assert_eq!(selected.value().len(), 3);
    assert!(
        selected
            .value()
            .iter()
            .all(|e| e.as_object().map(|o| o.len()) == Some(2))
    );
    assert!(
        selected.body.get("@odata.nextLink").is_none(),
        "$top ends the feed"
    );
    let unknown = odata(&app, "/odata/noegletal_nope", Auth::Bearer(&token), &[]).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}
