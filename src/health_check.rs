//! `stockd health-check`: the container's own probe client, so images need no grpcurl.

use anyhow::Context;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::HealthCheckConfig;

/// Asks a running stockd whether it serves `config.service`.
pub async fn is_serving(config: &HealthCheckConfig) -> anyhow::Result<bool> {
    let channel = tonic::transport::Endpoint::from_shared(config.addr.clone())
        .with_context(|| format!("reading address {}", config.addr))?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", config.addr))?;
    let mut client = HealthClient::new(channel);
    let response = client
        .check(HealthCheckRequest {
            service: config.service.clone(),
        })
        .await
        .context("calling grpc.health.v1.Health/Check")?;
    let status = response.into_inner().status();
    println!("{}", status.as_str_name());
    Ok(status == ServingStatus::Serving)
}
