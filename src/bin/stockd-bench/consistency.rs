//! Times the streaming consistency check over whatever the database holds.

use std::time::Instant;

use stockd::grpc::pb::{
    self, consistency_report::Report, fulfilment_service_client::FulfilmentServiceClient,
};

use crate::Ch;

/// Runs a dry-run check and prints how long it took and what it found.
pub(crate) async fn run(channel: Ch) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut stream = FulfilmentServiceClient::new(channel)
        .check_consistency(pb::CheckConsistencyRequest { repair: false })
        .await?
        .into_inner();
    let mut reported = 0u64;
    while let Some(report) = stream.message().await? {
        match report.report {
            Some(Report::Summary(summary)) => {
                println!(
                    "scenario=consistency seconds={:.1} differences={} streamed={reported}",
                    started.elapsed().as_secs_f64(),
                    summary.differences
                );
                return Ok(());
            }
            Some(_) => reported += 1,
            None => {}
        }
    }
    anyhow::bail!("the stream ended without a summary")
}
