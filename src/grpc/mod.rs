//! The gRPC transport: our services, health and reflection. Handlers only convert, call the
//! repository and convert back; `status` is the one place errors become gRPC statuses.

mod availability;
mod convert;
mod deadline;
mod fulfilment;
pub mod observe;
mod paging;
pub mod pb;
mod reservations;
mod settings;
mod source_items;
mod sources;
pub mod status;
mod stock_counts;
mod stocks;

use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::repo::Repo;

/// The full names of stockd's own services, as health and reflection know them.
pub const SERVICE_NAMES: [&str; 7] = [
    "stockd.v1.AvailabilityService",
    "stockd.v1.FulfilmentService",
    "stockd.v1.ReservationService",
    "stockd.v1.SettingsService",
    "stockd.v1.SourceItemService",
    "stockd.v1.SourceService",
    "stockd.v1.StockService",
];

/// Largest request message decoded. The largest legitimate one, 1,000 entries of the longest
/// SKU (256 bytes of UTF-8) with a source code, a quantity and a few more fields, stays well
/// below it; a larger message is RESOURCE_EXHAUSTED before any of it is parsed. (tonic's
/// default today; named here so that it stays a decision.)
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Every service stockd serves, ready for a tonic server.
pub fn routes(
    repo: Repo,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> Result<Routes, tonic_reflection::server::Error> {
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // Lets grpcurl decode google.rpc error details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    Ok(Routes::new(health)
        // v1alpha too: grpcurl 1.8 and many GUIs speak only that version.
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(
            pb::availability_service_server::AvailabilityServiceServer::new(
                availability::AvailabilityApi { repo: repo.clone() },
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::fulfilment_service_server::FulfilmentServiceServer::new(
                fulfilment::FulfilmentApi { repo: repo.clone() },
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::reservation_service_server::ReservationServiceServer::new(
                reservations::ReservationApi { repo: repo.clone() },
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::settings_service_server::SettingsServiceServer::new(settings::SettingsApi {
                repo: repo.clone(),
            })
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::source_item_service_server::SourceItemServiceServer::new(
                source_items::SourceItemApi { repo: repo.clone() },
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::source_service_server::SourceServiceServer::new(sources::SourceApi {
                repo: repo.clone(),
            })
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            pb::stock_service_server::StockServiceServer::new(stocks::StockApi { repo })
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        ))
}

/// Marks the process and every service as serving (or not) for probes and load balancers.
pub async fn set_health(reporter: &HealthReporter, serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        reporter.set_service_status(name, status).await;
    }
}
