//! Hostile input: control characters, forged page tokens, oversized batches and refusals too
//! large for a trailer get a clear INVALID_ARGUMENT (or a bounded answer) and change nothing.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::{TestApp, bad_fields};

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
