//! `vigil mcp`: Vigil's MCP server over stdin/stdout, for agent clients
//! that start their tools as local processes. The tools are those of
//! `/mcp` on the server ([`vigil_api::mcp`]); each call is made to the
//! server at `--url` over HTTP with this client's token, so it has exactly
//! that token's roles. Stdout carries only MCP messages; logs go to
//! stderr.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use rmcp::ServiceExt;
use serde_json::Value;
use vigil_api::mcp::{Rest, RestReply, RestRequest, VigilMcp};

use super::Client;

/// [`Rest`] over HTTP to a Vigil server, with the client's token.
struct HttpRest(Client);

#[async_trait]
impl Rest for HttpRest {
    async fn call(&self, request: RestRequest) -> Result<RestReply, String> {
        let method =
            Method::from_bytes(request.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
        let mut builder = self
            .0
            .request_path(method, &request.path)
            .map_err(|e| e.to_string())?;
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| self.0.transport(e).to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(RestReply { status, body })
    }
}

/// Serves the MCP tools on stdin/stdout until the client closes them.
pub async fn serve_stdio(client: Client) -> anyhow::Result<()> {
    let handler = VigilMcp::new(Arc::new(HttpRest(client)), None);
    let running = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting the MCP server on stdio: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP session on stdio: {e}"))?;
    Ok(())
}
