//! SourceService over gRPC.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};
use tonic::Code;

use crate::support::{TestApp, bad_fields, not_found};

fn full_source(code: &str) -> pb::Source {
    pb::Source {
        code: code.into(),
        name: "Berlin Store".into(),
        enabled: Some(true),
        description: "flagship".into(),
        address: Some(pb::Address {
            country: "DE".into(),
            city: "Berlin".into(),
            postcode: "10115".into(),
            ..Default::default()
        }),
        location: Some(pb::GeoPoint {
            latitude: 52.52,
            longitude: 13.405,
        }),
        contact: Some(pb::Contact {
            name: "Ada".into(),
            ..Default::default()
        }),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_created_source_reads_back_with_every_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app
        .sources()
        .create_source(pb::CreateSourceRequest {
            source: Some(full_source("berlin-1")),
        })
        .await
        .unwrap()
        .into_inner();
    let read = app
        .sources()
        .get_source(pb::GetSourceRequest {
            code: "berlin-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created, full_source("berlin-1"));
    assert_eq!(read, created);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn creating_a_source_twice_is_already_exists(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("dup").await;
    let status = app
        .sources()
        .create_source(pb::CreateSourceRequest {
            source: Some(full_source("dup")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_bad_source_reports_every_bad_field_and_stores_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut source = full_source("bad code!");
    source.name = String::new();
    source.location = Some(pb::GeoPoint {
        latitude: 91.0,
        longitude: 0.0,
    });
    let status = app
        .sources()
        .create_source(pb::CreateSourceRequest {
            source: Some(source),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        ["source.code", "source.name", "source.location.latitude"]
    );
    let listed = app
        .sources()
        .list_sources(pb::ListSourcesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sources.len(), 1, "only the default source exists");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unknown_source_is_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .sources()
        .get_source(pb::GetSourceRequest {
            code: "nowhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status), ("source".into(), "nowhere".into()));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn listing_pages_through_every_source_in_code_order(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for code in ["c", "a", "b", "d"] {
        app.create_source(code).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .sources()
            .list_sources(pb::ListSourcesRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.sources.into_iter().map(|s| s.code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "default"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_forged_page_token_is_invalid(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .sources()
        .list_sources(pb::ListSourcesRequest {
            page_size: 1,
            page_token: "not-a-token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["page_token"]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn update_changes_only_the_masked_fields(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.sources()
        .create_source(pb::CreateSourceRequest {
            source: Some(full_source("berlin-1")),
        })
        .await
        .unwrap();
    let updated = app
        .sources()
        .update_source(pb::UpdateSourceRequest {
            source: Some(pb::Source {
                code: "berlin-1".into(),
                description: "renovated".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into(), "location".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "Berlin Store");
    assert_eq!(updated.description, "renovated");
    assert_eq!(updated.location, None);
    assert_eq!(updated.address, full_source("x").address);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn update_refuses_unknown_mask_paths_and_unknown_sources(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .sources()
        .update_source(pb::UpdateSourceRequest {
            source: Some(full_source("default")),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["code".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["update_mask.paths[0]"]);
    let status = app
        .sources()
        .update_source(pb::UpdateSourceRequest {
            source: Some(full_source("ghost")),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(status).0, "source");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_source_can_be_disabled_and_enabled(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let set = |enabled| pb::SetSourceEnabledRequest {
        code: "default".into(),
        enabled,
    };
    let off = app
        .sources()
        .set_source_enabled(set(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(off.enabled, Some(false));
    let on = app
        .sources()
        .set_source_enabled(set(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on.enabled, Some(true));
    let status = app
        .sources()
        .set_source_enabled(pb::SetSourceEnabledRequest {
            code: "ghost".into(),
            enabled: true,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_source_created_without_saying_is_enabled(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_source("quiet").await;
    assert_eq!(created.enabled, Some(true));
}
