//! StockService over gRPC.

use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::{TestApp, bad_fields, not_found};

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_fresh_database_has_the_default_stock_source_and_channel(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let stock = app
        .stocks()
        .get_stock(pb::GetStockRequest { stock_id: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stock.name, "Default Stock");
    assert_eq!(
        stock.links,
        [pb::SourceLink {
            source_code: "default".into(),
            priority: 1
        }]
    );
    assert_eq!(
        stock.sales_channels,
        [pb::SalesChannel {
            r#type: "website".into(),
            code: "base".into()
        }]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn links_are_listed_by_priority_and_can_be_reprioritised_and_removed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    app.create_source("west").await;
    let stock = app
        .stocks()
        .create_stock(pb::CreateStockRequest { name: "EU".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stock.stock_id, 2);
    app.link(2, &[("east", 2), ("west", 1)]).await;
    app.link(2, &[("east", 1), ("west", 5)]).await;
    let linked = app
        .stocks()
        .get_stock(pb::GetStockRequest { stock_id: 2 })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<_> = linked
        .links
        .iter()
        .map(|l| (l.source_code.as_str(), l.priority))
        .collect();
    assert_eq!(order, [("east", 1), ("west", 5)]);
    let unlink = || pb::UnlinkSourcesRequest {
        stock_id: 2,
        source_codes: vec!["east".into()],
    };
    let after = app
        .stocks()
        .unlink_sources(unlink())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.links.len(), 1);
    let again = app
        .stocks()
        .unlink_sources(unlink())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, after, "unlinking twice changes nothing");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn linking_an_unknown_source_is_invalid_and_links_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("east").await;
    let status = app
        .stocks()
        .link_sources(pb::LinkSourcesRequest {
            stock_id: 1,
            links: vec![
                pb::SourceLink {
                    source_code: "east".into(),
                    priority: 2,
                },
                pb::SourceLink {
                    source_code: "ghost".into(),
                    priority: 3,
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["links[1].source_code"]);
    let stock = app
        .stocks()
        .get_stock(pb::GetStockRequest { stock_id: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stock.links.len(), 1, "east was not linked either");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn malformed_links_report_every_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .stocks()
        .link_sources(pb::LinkSourcesRequest {
            stock_id: 0,
            links: vec![
                pb::SourceLink {
                    source_code: "ok".into(),
                    priority: 0,
                },
                pb::SourceLink {
                    source_code: "ok".into(),
                    priority: 1,
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(status),
        ["stock_id", "links[1].source_code", "links[0].priority"]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_sales_channel_moves_to_the_stock_it_is_assigned_to(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stocks()
        .create_stock(pb::CreateStockRequest { name: "EU".into() })
        .await
        .unwrap();
    let stock = app
        .stocks()
        .assign_sales_channels(pb::AssignSalesChannelsRequest {
            stock_id: 2,
            sales_channels: vec![pb::SalesChannel {
                r#type: "website".into(),
                code: "base".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stock.sales_channels.len(), 1);
    let default = app
        .stocks()
        .get_stock(pb::GetStockRequest { stock_id: 1 })
        .await
        .unwrap()
        .into_inner();
    assert!(default.sales_channels.is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_stocks_are_not_found_everywhere(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let get = app
        .stocks()
        .get_stock(pb::GetStockRequest { stock_id: 9 })
        .await
        .unwrap_err();
    assert_eq!(not_found(get), ("stock".into(), "9".into()));
    let link = app
        .stocks()
        .link_sources(pb::LinkSourcesRequest {
            stock_id: 9,
            links: vec![pb::SourceLink {
                source_code: "default".into(),
                priority: 1,
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(link).0, "stock");
    let assign = app
        .stocks()
        .assign_sales_channels(pb::AssignSalesChannelsRequest {
            stock_id: 9,
            sales_channels: vec![pb::SalesChannel {
                r#type: "website".into(),
                code: "x".into(),
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(not_found(assign).0, "stock");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn stocks_list_in_id_order_across_pages(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for name in ["EU", "US"] {
        app.stocks()
            .create_stock(pb::CreateStockRequest { name: name.into() })
            .await
            .unwrap();
    }
    let first = app
        .stocks()
        .list_stocks(pb::ListStocksRequest {
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let second = app
        .stocks()
        .list_stocks(pb::ListStocksRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<i32> = first
        .stocks
        .iter()
        .chain(&second.stocks)
        .map(|s| s.stock_id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    assert!(second.next_page_token.is_empty());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stock_needs_a_name(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let status = app
        .stocks()
        .create_stock(pb::CreateStockRequest { name: " ".into() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(status), ["name"]);
}
