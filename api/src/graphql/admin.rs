//! The admin operations as GraphQL mutations: the same functions as the REST routes
//! under `/api/v1/admin`, so the same confinement to the administered municipality, the
//! same validation and the same audit record (action `graphql mutation <name>`). Inputs
//! and results are the REST bodies, as the `JSON` scalar.

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, InputValue, Object, Scalar, TypeRef};

use super::error::from_api;
use super::resolve::gql;
use crate::audit::AuditFacts;
use crate::error::ApiError;
use crate::routes::admin::{catalogue, clients, delegations, settings, tokens};
use crate::startup::AppState;

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
}

const OPS: [(Op, &str, &str); 9] = [
    (
        Op::RegisterMachineClient,
        "registerMachineClient",
        "POST /api/v1/admin/clients; input: its body; returns the client and its secret (shown once)",
    ),
    (
        Op::RotateMachineClientSecret,
        "rotateMachineClientSecret",
        "POST /api/v1/admin/clients/{id}/rotate",
    ),
    (
        Op::DisableMachineClient,
        "disableMachineClient",
        "POST /api/v1/admin/clients/{id}/disable",
    ),
    (
        Op::DeleteMachineClient,
        "deleteMachineClient",
        "DELETE /api/v1/admin/clients/{id}",
    ),
    (
        Op::RevokePersonalToken,
        "revokePersonalToken",
        "DELETE /api/v1/admin/tokens/{id}",
    ),
    (
        Op::SetMunicipalitySettings,
        "setMunicipalitySettings",
        "PUT /api/v1/admin/settings; input: its body",
    ),
    (
        Op::CreateDelegation,
        "createDelegation",
        "POST /api/v1/admin/delegations; input: its body",
    ),
    (
        Op::RevokeDelegation,
        "revokeDelegation",
        "DELETE /api/v1/admin/delegations/{id}",
    ),
    (
        Op::PutDataset,
        "putDataset",
        "PUT /api/v1/admin/catalogue/{id} (platform operators); input: the definition",
    ),
];

impl Op {
    fn takes_id(self) -> bool {
        !matches!(
            self,
            Op::RegisterMachineClient | Op::SetMunicipalitySettings | Op::CreateDelegation
        )
    }

    fn takes_input(self) -> bool {
        matches!(
            self,
            Op::RegisterMachineClient
                | Op::SetMunicipalitySettings
                | Op::CreateDelegation
                | Op::PutDataset
        )
    }
}

/// The `JSON` scalar: any JSON value.
pub fn json_scalar() -> Scalar {
    Scalar::new("JSON").description("Any JSON value: the body of the matching REST route")
}

/// The `Mutation` root.
pub fn mutation() -> Object {
    let mut object = Object::new("Mutation")
        .description("IT administration: the operations of /api/v1/admin, with the same rules");
    for (op, name, doc) in OPS {
        let mut field = Field::new(name, TypeRef::named_nn("JSON"), move |ctx| {
            FieldFuture::new(async move {
                let gql = gql(&ctx)?;
                let text = |key: &str| -> async_graphql::Result<Option<String>> {
                    ctx.args
                        .get(key)
                        .map(|v| v.string().map(str::to_owned))
                        .transpose()
                };
                let municipality = text("municipality")?;
                let id = text("id")?;
                let input = match ctx.args.get("input") {
                    Some(v) => v.deserialize::<serde_json::Value>()?,
                    None => serde_json::Value::Null,
                };
                let mut request = gql.request.clone();
                request.action = format!("graphql mutation {name}");
                let work = run(
                    op,
                    &gql.state,
                    &gql.principal,
                    municipality.as_deref(),
                    id,
                    input,
                );
                let value = gql
                    .state
                    .audited_with(&request, &gql.principal, None, work)
                    .await
                    .map_err(from_api)?;
                Ok(Some(Value::from_json(value)?))
            })
        })
        .description(doc)
        .argument(InputValue::new(
            "municipality",
            TypeRef::named(TypeRef::STRING),
        ));
        if op.takes_id() {
            field = field.argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)));
        }
        if op.takes_input() {
            field = field.argument(InputValue::new("input", TypeRef::named_nn("JSON")));
        }
        object = object.field(field);
    }
    object
}

async fn run(
    op: Op,
    state: &AppState,
    principal: &dap_auth::Principal,
    municipality: Option<&str>,
    id: Option<String>,
    input: serde_json::Value,
) -> Result<(serde_json::Value, AuditFacts), ApiError> {
    fn json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, ApiError> {
        serde_json::to_value(value).map_err(|e| ApiError::Internal(e.into()))
    }
    fn body<T: serde::de::DeserializeOwned>(input: serde_json::Value) -> Result<T, ApiError> {
        serde_json::from_value(input)
            .map_err(|e| ApiError::InvalidParameter(format!("input is not valid: {e}")))
    }
    let id = id.unwrap_or_default();
    let done = serde_json::Value::Bool(true);
    let m = municipality;
    Ok(match op {
        Op::RegisterMachineClient => {
            let (v, f) = clients::register(state, principal, m, body(input)?).await?;
            (json(v)?, f)
        }
        Op::RotateMachineClientSecret => {
            let (v, f) = clients::rotate(state, principal, m, &id).await?;
            (json(v)?, f)
        }
        Op::DisableMachineClient => (
            done,
            clients::change(state, principal, m, &id, false).await?,
        ),
        Op::DeleteMachineClient => (done, clients::change(state, principal, m, &id, true).await?),
        Op::RevokePersonalToken => (done, tokens::revoke(state, principal, m, &id).await?.1),
        Op::SetMunicipalitySettings => {
            let (v, f) = settings::replace(state, principal, m, body(input)?).await?;
            (json(v)?, f)
        }
        Op::CreateDelegation => {
            let (v, f) = delegations::delegate(state, principal, m, body(input)?).await?;
            (json(v)?, f)
        }
        Op::RevokeDelegation => (done, delegations::revoke(state, principal, m, &id).await?.1),
        Op::PutDataset => {
            let (v, f) = catalogue::put(state, principal, &id, input).await?;
            (json(v)?, f)
        }
    })
}
