//! The admin operations as GraphQL mutations: the same core operations as the REST
//! routes under `/api/v1/admin`, so the same confinement to the administered
//! municipality, the same validation and the same audit record (action
//! `graphql mutation <name>`). Inputs are typed input objects whose fields carry the REST
//! bodies' names ([`input_objects`]); results are the REST bodies, as the `JSON` scalar.

use async_graphql::Value;
use async_graphql::dynamic::{
    Field, FieldFuture, InputObject, InputValue, Object, ResolverContext, Scalar, TypeRef,
};
use dap_auth::Principal;
use dap_schema::DatasetDef;
use serde::de::DeserializeOwned;

use super::error::field_error;
use super::resolve::gql;
use crate::app::{AppError, AuditFacts, Core};

/// One admin operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    RegisterMachineClient,
    RotateMachineClientSecret,
    DisableMachineClient,
    DeleteMachineClient,
    RevokePersonalToken,
    SetMunicipalitySettings,
    CreateDelegation,
    RevokeDelegation,
    PutDataset,
    DeleteDataset,
}

/// Each operation: its field name, what it does, and the type of its `input` (if any).
const OPS: [(Op, &str, &str, Option<&str>); 10] = [
    (
        Op::RegisterMachineClient,
        "registerMachineClient",
        "POST /api/v1/admin/clients; returns the client and its secret (shown once)",
        Some("NewClientInput"),
    ),
    (
        Op::RotateMachineClientSecret,
        "rotateMachineClientSecret",
        "POST /api/v1/admin/clients/{id}/rotate",
        None,
    ),
    (
        Op::DisableMachineClient,
        "disableMachineClient",
        "POST /api/v1/admin/clients/{id}/disable",
        None,
    ),
    (
        Op::DeleteMachineClient,
        "deleteMachineClient",
        "DELETE /api/v1/admin/clients/{id}",
        None,
    ),
    (
        Op::RevokePersonalToken,
        "revokePersonalToken",
        "DELETE /api/v1/admin/tokens/{id}",
        None,
    ),
    (
        Op::SetMunicipalitySettings,
        "setMunicipalitySettings",
        "PUT /api/v1/admin/settings",
        Some("MunicipalitySettingsInput"),
    ),
    (
        Op::CreateDelegation,
        "createDelegation",
        "POST /api/v1/admin/delegations",
        Some("NewDelegationInput"),
    ),
    (
        Op::RevokeDelegation,
        "revokeDelegation",
        "DELETE /api/v1/admin/delegations/{id}",
        None,
    ),
    (
        Op::PutDataset,
        "putDataset",
        "PUT /api/v1/admin/catalogue/{id} (platform operators)",
        Some("DatasetDefinitionInput"),
    ),
    (
        Op::DeleteDataset,
        "deleteDataset",
        "DELETE /api/v1/admin/catalogue/{id} (platform operators)",
        None,
    ),
];

impl Op {
    fn takes_id(self) -> bool {
        !matches!(
            self,
            Op::RegisterMachineClient | Op::SetMunicipalitySettings | Op::CreateDelegation
        )
    }
}

/// The `JSON` scalar: any JSON value.
pub fn json_scalar() -> Scalar {
    Scalar::new("JSON").description("Any JSON value: the body of the matching REST route")
}

/// The GraphQL type of an input field.
#[derive(Clone, Copy)]
enum Ty {
    Text,
    RequiredText,
    Texts,
    OptionalTexts,
    Int,
    Json,
    Columns,
}

impl Ty {
    fn type_ref(self) -> TypeRef {
        match self {
            Ty::Text => TypeRef::named(TypeRef::STRING),
            Ty::RequiredText => TypeRef::named_nn(TypeRef::STRING),
            Ty::Texts => TypeRef::named_nn_list_nn(TypeRef::STRING),
            Ty::OptionalTexts => TypeRef::named_nn_list(TypeRef::STRING),
            Ty::Int => TypeRef::named(TypeRef::INT),
            Ty::Json => TypeRef::named("JSON"),
            Ty::Columns => TypeRef::named_nn_list_nn("ColumnDefinitionInput"),
        }
    }
}

/// An input object: name, description, and its fields (named like the wire type's).
type InputDef = (
    &'static str,
    &'static str,
    &'static [(&'static str, Ty, &'static str)],
);

const MUNICIPALITY: &str = "Optional; must be the municipality you administer.";

const INPUTS: [InputDef; 5] = [
    (
        "NewClientInput",
        "Registers a client for an integrator (POST /api/v1/admin/clients).",
        &[
            (
                "name",
                Ty::RequiredText,
                "What the client is for (1 to 100 characters), unique within the municipality.",
            ),
            (
                "description",
                Ty::Text,
                "Optional: more about the client, at most 1000 characters.",
            ),
            ("datasets", Ty::Texts, "Datasets the client may read."),
            (
                "expires_in_days",
                Ty::Int,
                "Days until the client expires (default 365, at most 730).",
            ),
            (
                "public_key",
                Ty::Json,
                "A public JWK: the client authenticates with `private_key_jwt` and gets no secret.",
            ),
            ("municipality", Ty::Text, MUNICIPALITY),
        ],
    ),
    (
        "MunicipalitySettingsInput",
        "New settings, replacing the old ones (PUT /api/v1/admin/settings).",
        &[
            (
                "disabled_datasets",
                Ty::OptionalTexts,
                "Datasets switched off for the municipality.",
            ),
            (
                "min_nsis",
                Ty::Text,
                "`Low`, `Substantial`, `High`, or absent for the platform's defaults.",
            ),
            ("municipality", Ty::Text, MUNICIPALITY),
        ],
    ),
    (
        "NewDelegationInput",
        "A new delegation from the municipality you administer (POST /api/v1/admin/delegations).",
        &[
            (
                "grantee_cvr",
                Ty::RequiredText,
                "The organisation's CVR number (8 digits).",
            ),
            ("datasets", Ty::Texts, "Datasets the organisation may read."),
            (
                "valid_until",
                Ty::RequiredText,
                "Until when (RFC 3339, or a date for the end of that day in Danish time; at most three years ahead).",
            ),
            ("grantor", Ty::Text, MUNICIPALITY),
        ],
    ),
    (
        "DatasetDefinitionInput",
        "A dataset definition, as GET /api/v1/admin/catalogue shows it.",
        &[
            (
                "id",
                Ty::RequiredText,
                "Dataset id, `domain.name`: the mutation's `id`.",
            ),
            ("domain", Ty::RequiredText, "The id's first part."),
            ("title_da", Ty::RequiredText, "Title in Danish."),
            ("title_en", Ty::RequiredText, "Title in English."),
            ("description_da", Ty::RequiredText, "Description in Danish."),
            (
                "description_en",
                Ty::RequiredText,
                "Description in English.",
            ),
            (
                "location",
                Ty::RequiredText,
                "A URL, or a path inside the lake root.",
            ),
            (
                "tenant_column",
                Ty::RequiredText,
                "The string column holding the municipality code.",
            ),
            (
                "read_role",
                Ty::RequiredText,
                "Short name of the role that opens it, e.g. `laes-oekonomi`.",
            ),
            (
                "min_nsis",
                Ty::RequiredText,
                "Lowest NSIS level: `Low`, `Substantial` or `High`.",
            ),
            ("key_columns", Ty::Texts, "Columns that identify a row."),
            ("columns", Ty::Columns, "The columns."),
        ],
    ),
    (
        "ColumnDefinitionInput",
        "One column of a dataset definition.",
        &[
            ("name", Ty::RequiredText, "Column name."),
            (
                "data_type",
                Ty::RequiredText,
                "e.g. `string`, `int64`, `decimal(18,2)`, `date`.",
            ),
            (
                "classification",
                Ty::RequiredText,
                "`public`, `personal` or `sensitive`.",
            ),
            ("description", Ty::RequiredText, "What the column holds."),
            (
                "constraint",
                Ty::Text,
                "A BPP data constraint URI whose values restrict the rows.",
            ),
        ],
    ),
];

/// The input objects of the mutations (`NewClientInput`, `MunicipalitySettingsInput`,
/// `NewDelegationInput`, `DatasetDefinitionInput`, `ColumnDefinitionInput`); each must be
/// registered in the schema.
pub fn input_objects() -> Vec<InputObject> {
    INPUTS
        .iter()
        .map(|(name, description, fields)| {
            fields.iter().fold(
                InputObject::new(*name).description(*description),
                |object, (field, ty, doc)| {
                    object.field(InputValue::new(*field, ty.type_ref()).description(*doc))
                },
            )
        })
        .collect()
}

/// The `Mutation` root.
pub fn mutation() -> Object {
    let mut object = Object::new("Mutation")
        .description("IT administration: the operations of /api/v1/admin, with the same rules");
    for (op, name, doc, input) in OPS {
        let mut f = Field::new(name, TypeRef::named_nn("JSON"), move |ctx| {
            FieldFuture::new(async move { resolve(op, name, ctx).await })
        })
        .description(doc)
        .argument(InputValue::new(
            "municipality",
            TypeRef::named(TypeRef::STRING),
        ));
        if op.takes_id() {
            f = f.argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)));
        }
        if let Some(input) = input {
            f = f.argument(InputValue::new("input", TypeRef::named_nn(input)));
        }
        object = object.field(f);
    }
    object
}

/// `machineClients`: the machine clients of the municipality you administer, as
/// `GET /api/v1/admin/clients` lists them (with name and description), the same core
/// operation and audit record (action `graphql query machineClients`).
pub fn machine_clients_field() -> Field {
    Field::new("machineClients", TypeRef::named_nn("JSON"), |ctx| {
        FieldFuture::new(async move {
            let gql = gql(&ctx)?;
            let municipality = ctx
                .args
                .get("municipality")
                .map(|v| v.string().map(str::to_owned))
                .transpose()?;
            let request = gql.request.part("graphql query machineClients".to_owned());
            let work = async {
                let (list, facts) = gql
                    .core
                    .list_clients(&gql.principal, municipality.as_deref())
                    .await?;
                Ok((json(list)?, facts))
            };
            let value = gql
                .audited(&request, None, work)
                .await
                .map_err(field_error)?;
            Ok(Some(Value::from_json(value)?))
        })
    })
    .description(
        "GET /api/v1/admin/clients: the machine clients (id, name, description, datasets, expiry) \
         of the municipality you administer",
    )
    .argument(
        InputValue::new("municipality", TypeRef::named(TypeRef::STRING))
            .description("The municipality to act for, when you administer several"),
    )
}

/// The arguments of one mutation, read off the request.
struct Args {
    municipality: Option<String>,
    id: String,
    input: Option<Value>,
}

async fn resolve(
    op: Op,
    name: &str,
    ctx: ResolverContext<'_>,
) -> async_graphql::Result<Option<Value>> {
    let gql = gql(&ctx)?;
    let text = |key: &str| -> async_graphql::Result<Option<String>> {
        ctx.args
            .get(key)
            .map(|v| v.string().map(str::to_owned))
            .transpose()
    };
    let args = Args {
        municipality: text("municipality")?,
        id: text("id")?.unwrap_or_default(),
        input: ctx.args.get("input").map(|v| v.as_value().clone()),
    };
    let request = gql.request.part(format!("graphql mutation {name}"));
    let work = run(op, &gql.core, &gql.principal, args);
    let value = gql
        .core
        .audited(&request, &gql.principal, None, work)
        .await
        .map_err(field_error)?;
    Ok(Some(Value::from_json(value)?))
}

/// The input as the wire type it mirrors. A field given as `null` counts as absent (the
/// wire types' defaults apply).
fn input<T: DeserializeOwned>(input: Option<Value>) -> Result<T, AppError> {
    let invalid =
        |e: serde_json::Error| AppError::InvalidParameter(format!("input is not valid: {e}"));
    let mut json = input.unwrap_or(Value::Null).into_json().map_err(invalid)?;
    if let serde_json::Value::Object(fields) = &mut json {
        fields.retain(|_, v| !v.is_null());
    }
    serde_path_to_error::deserialize(json).map_err(|e| {
        crate::app::input::invalid("input field", &e.path().to_string(), &e.inner().to_string())
    })
}

fn json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(AppError::internal)
}

async fn run(
    op: Op,
    core: &Core,
    principal: &Principal,
    args: Args,
) -> Result<(serde_json::Value, AuditFacts), AppError> {
    let (m, id) = (args.municipality.as_deref(), args.id.as_str());
    let done = |((), facts): ((), AuditFacts)| (serde_json::Value::Bool(true), facts);
    Ok(match op {
        Op::RegisterMachineClient => {
            let (v, f) = core
                .register_client(principal, m, input(args.input)?)
                .await?;
            (json(v)?, f)
        }
        Op::RotateMachineClientSecret => {
            let (v, f) = core.rotate_client_secret(principal, m, id).await?;
            (json(v)?, f)
        }
        Op::DisableMachineClient => done(core.change_client(principal, m, id, false).await?),
        Op::DeleteMachineClient => done(core.change_client(principal, m, id, true).await?),
        Op::RevokePersonalToken => done(core.revoke_municipal_token(principal, m, id).await?),
        Op::SetMunicipalitySettings => {
            let (v, f) = core
                .replace_settings(principal, m, input(args.input)?)
                .await?;
            (json(v)?, f)
        }
        Op::CreateDelegation => {
            let (v, f) = core.delegate(principal, m, input(args.input)?).await?;
            (json(v)?, f)
        }
        Op::RevokeDelegation => done(core.revoke_delegation(principal, m, id).await?),
        Op::PutDataset => {
            let def = input::<DatasetDef>(args.input);
            let (v, f) = core.put_dataset(principal, id, def).await?;
            (json(v)?, f)
        }
        Op::DeleteDataset => done(core.delete_dataset(principal, id).await?),
    })
}
