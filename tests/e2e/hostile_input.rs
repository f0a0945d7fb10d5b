//! Hostile input: control characters, forged page tokens, oversized batches and refusals too
//! large for a trailer get a clear INVALID_ARGUMENT (or a bounded answer) and change nothing.

use std::time::Duration;

use sqlx::PgPool;
use stockd::{
    grpc::{
        pb,
        status::{MAX_DETAILS_HEADER_LEN, base64_len},
    },
    repo::MIGRATOR,
    startup::Application,
};
use tokio::net::TcpListener;
use tonic::{Code, transport::Endpoint};
use tonic_types::StatusExt;

use crate::{
    orders::{line, order},
    support::{ReservationServiceClient, TestApp, bad_fields},
};

/// grpc-java's default limit on a response's metadata; C-core clients allow 16 KiB.
const STRICTEST_CLIENT_METADATA: u32 = 8 * 1024;

fn source_named(code: &str, name: &str) -> pb::CreateSourceRequest {
    pb::CreateSourceRequest {
        source: Some(pb::Source {
            code: code.into(),
            name: name.into(),
            ..Default::default()
        }),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_nul_in_any_free_text_field_is_invalid_argument_naming_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut sources = app.sources();

    let status = sources
        .create_source(source_named("nul", "bad\0name"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["source.name"]);

    let mut request = source_named("nul", "Fine");
    let source = request.source.as_mut().unwrap();
    source.description = "two\nlines are fine, a \0 is not".into();
    source.address = Some(pb::Address {
        street: "Main St\0 1".into(),
        ..Default::default()
    });
    source.contact = Some(pb::Contact {
        email: "a@b\u{7}".into(),
        ..Default::default()
    });
    let status = sources.create_source(request).await.unwrap_err();
    assert_eq!(
        bad_fields(status),
        [
            "source.description",
            "source.address.street",
            "source.contact.email"
        ]
    );

    let status = app
        .stocks()
        .create_stock(pb::CreateStockRequest { name: "\0".into() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["name"]);
    let listed = sources
        .list_sources(pb::ListSourcesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sources.len(), 1, "only the default source exists");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_nul_in_an_id_is_invalid_argument_naming_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .reservations()
        .get_order(pb::GetOrderRequest {
            order_id: "100\0".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["order_id"]);
    let status = app
        .items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: "default".into(),
            sku: "\0".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["sku"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_thousand_line_order_fits_the_strictest_clients_trailer_limit(pool: PgPool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = TestApp::spawn_app(Application::build(pool, listener, Duration::from_secs(5))).await;
    // A client that, like grpc-java, refuses more than 8 KiB of metadata.
    let strict = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .http2_max_header_list_size(STRICTEST_CLIENT_METADATA)
        .connect()
        .await
        .unwrap();
    let lines = (0..1000)
        .map(|i| line(&format!("UNKNOWN-{i:0>56}"), "1"))
        .collect();

    let status = ReservationServiceClient::new(strict)
        .place_order(order("big", lines))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let details_len = base64_len(status.details().len());
    assert!(details_len <= MAX_DETAILS_HEADER_LEN, "{details_len}");
    assert!(details_len + status.message().len() < 8 * 1024);
    let listed = status
        .get_details_precondition_failure()
        .unwrap()
        .violations;
    assert!(!listed.is_empty() && listed.len() < 1000);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "SKU_NOT_ASSIGNED_TO_STOCK");
    assert_eq!(info.metadata["total"], "1000");
    assert_eq!(
        status.message(),
        format!("1000 lines refused; the first {} are listed", listed.len())
    );
    app.stop().await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_oversized_batch_is_refused_with_one_violation_naming_the_list(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bad_skus = vec!["\0".to_owned(); 100_000];
    let status = app
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(crate::support::stock(1)),
            skus: bad_skus,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status.clone()), ["skus"]);
    assert_eq!(
        status.message(),
        "invalid skus: must have at most 1000 entries"
    );

    let items = vec![crate::support::item("default", "\0", "-1"); 1001];
    let status = app
        .items()
        .upsert_source_items(pb::UpsertSourceItemsRequest { items })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["items"]);

    let lines = vec![line("\0", "1_000"); 50_000];
    let status = app
        .reservations()
        .place_order(order("o-1", lines))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["lines"]);
}

/// Creates sources `p-0`..`p-{n-1}` and returns the token after the first page of two.
async fn first_page_token(app: &TestApp, n: usize) -> String {
    for i in 0..n {
        app.create_source(&format!("p-{i}")).await;
    }
    let page = app
        .sources()
        .list_sources(pb::ListSourcesRequest {
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    page.next_page_token
}

fn sources_after(token: &str) -> pb::ListSourcesRequest {
    pb::ListSourcesRequest {
        page_size: 2,
        page_token: token.into(),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_forged_altered_foreign_or_nul_page_token_is_invalid_argument(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = first_page_token(&app, 3).await;
    let mut altered = token.clone().into_bytes();
    altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    // What a token of this listing looked like before tokens were signed: "sources:<key>" in hex.
    let hex = |text: &str| -> String { text.bytes().map(|b| format!("{b:02x}")).collect() };
    let unsigned_nul = hex("sources:\0");
    let unsigned_key = hex("sources:p-1");
    let of_another_listing = app
        .stocks()
        .list_stocks(pb::ListStocksRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!of_another_listing.is_empty());

    for bad in [
        altered.as_str(),
        &unsigned_nul,
        &unsigned_key,
        &of_another_listing,
        "garbage",
        "\0",
        "00",
    ] {
        let status = app
            .sources()
            .list_sources(sources_after(bad))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(status), ["page_token"], "{bad:?}");
    }
    let status = app
        .stocks()
        .list_stocks(pb::ListStocksRequest {
            page_size: 1,
            page_token: token,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["page_token"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_page_token_works_on_another_process_and_after_a_restart(pool: PgPool) {
    let url = crate::support::own_database_url(&pool);
    let app = TestApp::spawn(pool).await;
    let token = first_page_token(&app, 3).await;
    // Stopping closes the pool: the restart below connects afresh, as a new process would.
    app.stop().await;

    let replica = crate::replicas::start_replica(&url).await;
    let page = pb::source_service_client::SourceServiceClient::new(replica.channel.clone())
        .list_sources(sources_after(&token))
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<String> = page.sources.into_iter().map(|s| s.code).collect();
    assert_eq!(codes, ["p-1", "p-2"]);

    let restarted = TestApp::spawn(PgPool::connect(&url).await.unwrap()).await;
    let again = restarted
        .sources()
        .list_sources(sources_after(&token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.sources.len(), 2);
}
