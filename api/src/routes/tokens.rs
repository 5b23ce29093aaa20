//! `/tokens`: token management, for admins. (`vigil token ...` does the same
//! directly against the database.)

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vigil_engine::Role;

use crate::auth::{Caller, issue};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::views::{IssuedTokenView, TokenBody, TokenList, TokenView};

const ADMINS: &[Role] = &[Role::Admin];

/// Every token (never the secrets), oldest first.
#[utoipa::path(
    get, path = "/tokens", tag = "tokens",
    responses(
        (status = 200, description = "Every token", body = TokenList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the admin role", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<TokenList>> {
    caller.require(ADMINS, "managing tokens")?;
    let tokens = state.store.tokens().await?;
    Ok(Json(TokenList {
        items: tokens.iter().map(TokenView::from).collect(),
    }))
}

/// Issues a token. The response is the only time the token is shown.
#[utoipa::path(
    post, path = "/tokens", tag = "tokens",
    request_body = TokenBody,
    responses(
        (status = 201, description = "Issued", body = IssuedTokenView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the admin role", body = Problem),
        (status = 409, description = "The principal exists with other roles", body = Problem),
        (status = 404, description = "No roles were given (another token of an existing principal) and there is no such principal", body = Problem),
        (status = 422, description = "A blank name or an unknown role", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<(StatusCode, Json<IssuedTokenView>)> {
    caller.require(ADMINS, "managing tokens")?;
    super::required_text("name", &body.name, super::MAX_REF_CHARS)?;
    let roles = parse_roles(&body.roles)?;
    let issued = issue(body.name.trim(), roles).map_err(ApiError::internal)?;
    let record = state.store.create_token(issued.record).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTokenView {
            token: issued.token,
            record: TokenView::from(&record),
        }),
    ))
}

/// Parses role names, naming the first unknown one.
pub fn parse_roles(names: &[String]) -> ApiResult<Vec<Role>> {
    names
        .iter()
        .map(|n| {
            n.parse::<Role>()
                .map_err(|e| ApiError::invalid("roles", e.to_string()))
        })
        .collect()
}

/// Revokes a token at once. Revoking a revoked token changes nothing.
#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id (the 16 hex characters after `vgl_`)")),
    responses(
        (status = 200, description = "Revoked", body = TokenView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the admin role", body = Problem),
        (status = 404, description = "No such token", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    caller.require(ADMINS, "managing tokens")?;
    let record = state.store.revoke_token(&id).await?;
    Ok(Json(TokenView::from(&record)))
}
