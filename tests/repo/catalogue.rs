//! Sources, stocks and source items in the repository.

use sqlx::PgPool;
use stockd::{
    domain::{
        BackorderMode, OrderId, Quantity, SalesChannel, SettingField, ShipmentId, Sku, SourceCode,
        SourceItemStatus, StockId,
        fulfilment::SourceLine,
        settings_patch::{SettingValues, SettingsPatch},
        source::{Source, SourceDetails},
        stock::SourceLink,
    },
    repo::{
        MIGRATOR, Repo, RepoError, availability::StockScope, consistency::Difference,
        fulfilment::ShipmentRequest, orders::OrderRequest, source_items::SourceItemWrite,
    },
};

fn write(source: &str, sku: &str, qty: &str) -> SourceItemWrite {
    SourceItemWrite {
        source: SourceCode::parse(source).unwrap(),
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::parse(qty).unwrap(),
        status: SourceItemStatus::InStock,
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn migrations_create_the_single_warehouse_defaults(pool: PgPool) {
    let repo = Repo::new(pool);
    let stock = repo.get_stock(StockId::DEFAULT).await.unwrap();
    assert_eq!(stock.links[0].source.as_str(), "default");
    let channel = stockd::domain::SalesChannel::default_website();
    assert_eq!(
        repo.stock_of_channel(&channel).await.unwrap(),
        StockId::DEFAULT
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn overlapping_batches_written_concurrently_never_deadlock(pool: PgPool) {
    let repo = Repo::new(pool);
    let forward: Vec<_> = (0..200)
        .map(|i| write("default", &format!("S{i:03}"), "1"))
        .collect();
    let backward: Vec<_> = forward
        .iter()
        .rev()
        .cloned()
        .map(|mut w| {
            w.quantity = Quantity::parse("2").unwrap();
            w
        })
        .collect();
    let mut tasks = Vec::new();
    for round in 0..8 {
        let repo = repo.clone();
        let batch = if round % 2 == 0 {
            forward.clone()
        } else {
            backward.clone()
        };
        tasks.push(tokio::spawn(async move {
            repo.upsert_source_items(&batch).await
        }));
    }
    for task in tasks {
        let stored = task
            .await
            .unwrap()
            .expect("no deadlock or conflict escapes");
        assert_eq!(stored.len(), 200);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM source_item")
        .fetch_one(repo.pool())
        .await
        .unwrap();
    assert_eq!(count, 200);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_batch_failing_in_the_database_leaves_nothing_behind(pool: PgPool) {
    let repo = Repo::new(pool);
    // Sabotage: a constraint the domain does not know about rejects the second row.
    sqlx::query("ALTER TABLE source_item ADD CONSTRAINT no_forbidden CHECK (sku <> 'FORBIDDEN')")
        .execute(repo.pool())
        .await
        .unwrap();
    let error = repo
        .upsert_source_items(&[
            write("default", "FINE", "1"),
            write("default", "FORBIDDEN", "1"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::Database(_)), "{error:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM source_item")
        .fetch_one(repo.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_unreachable_database_is_unavailable_not_internal(pool: PgPool) {
    let repo = Repo::new(pool);
    repo.pool().close().await;
    let error = repo.get_stock(StockId::DEFAULT).await.unwrap_err();
    assert!(matches!(error, RepoError::Unavailable(_)), "{error:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_corrupt_row_is_an_error_not_a_panic(pool: PgPool) {
    let repo = Repo::new(pool);
    repo.upsert_source_items(&[write("default", "OK", "1")])
        .await
        .unwrap();
    sqlx::query("UPDATE source_item SET sku = '' WHERE sku = 'OK'")
        .execute(repo.pool())
        .await
        .unwrap();
    let error = repo
        .list_source_items(
            &stockd::repo::source_items::SourceItemFilter::Source(SourceCode::default_source()),
            None,
            10,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::Corrupt(_)), "{error:?}");
}

async fn totals_rows(repo: &Repo) -> Vec<(i32, String, String)> {
    sqlx::query_as("SELECT stock_id, sku, (reserved::float8)::text FROM stock_sku ORDER BY 1, 2")
        .fetch_all(repo.pool())
        .await
        .unwrap()
}

/// Another source, linked to no stock yet.
async fn create_source(repo: &Repo, code: &str) -> Source {
    let source = Source {
        code: SourceCode::parse(code).unwrap(),
        details: SourceDetails {
            name: code.into(),
            ..SourceDetails::default()
        },
        enabled: true,
    };
    repo.create_source(&source).await.unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn source_items_get_their_totals_rows_in_every_stock_that_links_their_source(pool: PgPool) {
    let repo = Repo::new(pool);
    let west = create_source(&repo, "west").await;
    repo.upsert_source_items(&[write("default", "A", "1"), write("west", "W", "1")])
        .await
        .unwrap();
    // Only the default source is linked (to the default stock): W has no stock yet.
    assert_eq!(totals_rows(&repo).await, vec![(1, "A".into(), "0".into())]);

    let stock = repo.create_stock("West stock").await.unwrap();
    let link = SourceLink {
        source: west.code.clone(),
        priority: 1,
    };
    repo.link_sources(stock.id, &[link]).await.unwrap();
    let id = stock.id.get();
    assert_eq!(
        totals_rows(&repo).await,
        vec![(1, "A".into(), "0".into()), (id, "W".into(), "0".into())]
    );
    // Writing the items again leaves the rows as they are.
    repo.upsert_source_items(&[write("west", "W", "5")])
        .await
        .unwrap();
    assert_eq!(totals_rows(&repo).await.len(), 2);
}

/// Consistency differences found without repairing.
async fn differences(repo: &Repo) -> Vec<Difference> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    repo.check_consistency(false, tx).await.unwrap();
    let mut found = Vec::new();
    while let Some(d) = rx.recv().await {
        found.push(d);
    }
    found
}

async fn copy(repo: &Repo, stock: i32, sku: &str) -> Option<(Vec<String>, Vec<String>)> {
    sqlx::query_as(
        "SELECT COALESCE(item_sources, '{}'), COALESCE(item_quantities::float8[]::text[], '{}') \
         FROM stock_sku \
         WHERE stock_id = $1 AND sku = $2",
    )
    .bind(stock)
    .bind(sku)
    .fetch_optional(repo.pool())
    .await
    .unwrap()
}

fn copy_of(sources: &[&str], quantities: &[&str]) -> Option<(Vec<String>, Vec<String>)> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    Some((owned(sources), owned(quantities)))
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_stock_copy_of_source_items_follows_every_write(pool: PgPool) {
    let repo = Repo::new(pool);
    let west = create_source(&repo, "west").await;
    repo.upsert_source_items(&[
        write("default", "A", "5"),
        write("west", "A", "3"),
        write("default", "B", "1"),
    ])
    .await
    .unwrap();
    // Stock 1 links only the default source: west's item is not in its copy.
    assert_eq!(copy(&repo, 1, "A").await, copy_of(&["default"], &["5"]));

    let two = repo.create_stock("Both").await.unwrap().id;
    let link = |code: &str, priority| SourceLink {
        source: SourceCode::parse(code).unwrap(),
        priority,
    };
    repo.link_sources(two, &[link("west", 1), link("default", 2)])
        .await
        .unwrap();
    let id = two.get();
    assert_eq!(
        copy(&repo, id, "A").await,
        copy_of(&["default", "west"], &["5", "3"])
    );
    // A priority change rewrites nothing it does not have to, and the copy stays.
    repo.link_sources(two, &[link("default", 3)]).await.unwrap();
    assert_eq!(
        copy(&repo, id, "A").await,
        copy_of(&["default", "west"], &["5", "3"])
    );

    repo.upsert_source_items(&[write("west", "A", "7")])
        .await
        .unwrap();
    assert_eq!(
        copy(&repo, id, "A").await,
        copy_of(&["default", "west"], &["5", "7"])
    );
    let patch = SettingsPatch {
        set: SettingValues {
            backorders: Some(BackorderMode::Allow),
            ..SettingValues::default()
        },
        clear: vec![],
    };
    repo.update_source_item_settings(&west.code, &Sku::parse("A").unwrap(), &patch)
        .await
        .unwrap();
    let backorders: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT item_backorders FROM stock_sku WHERE stock_id = $1 AND sku = 'A'",
    )
    .bind(id)
    .fetch_one(repo.pool())
    .await
    .unwrap();
    assert_eq!(backorders, vec![None, Some("ALLOW".to_string())]);

    repo.delete_source_items(&[(SourceCode::default_source(), Sku::parse("B").unwrap())])
        .await
        .unwrap();
    assert_eq!(copy(&repo, 1, "B").await, copy_of(&[], &[]));
    repo.unlink_sources(two, &["default"]).await.unwrap();
    assert_eq!(copy(&repo, id, "A").await, copy_of(&["west"], &["7"]));
    // Writes by hand go through the same triggers, a changed key included.
    sqlx::query("UPDATE source_item SET sku = 'C' WHERE source_code = 'west' AND sku = 'A'")
        .execute(repo.pool())
        .await
        .unwrap();
    assert_eq!(copy(&repo, id, "C").await, copy_of(&["west"], &["7"]));
    assert_eq!(copy(&repo, id, "A").await, copy_of(&[], &[]));
    assert!(differences(&repo).await.is_empty());
}

/// The backorder mode a (stock, SKU) row copies from the product's settings; `None` without a row.
async fn product_copy(repo: &Repo, stock: i32, sku: &str) -> Option<Option<String>> {
    sqlx::query_scalar("SELECT product_backorders FROM stock_sku WHERE stock_id = $1 AND sku = $2")
        .bind(stock)
        .bind(sku)
        .fetch_optional(repo.pool())
        .await
        .unwrap()
}

fn set_product(values: SettingValues) -> SettingsPatch {
    SettingsPatch {
        set: values,
        clear: vec![],
    }
}

/// Whether the stock manages the SKU's stock, as availability answers it.
async fn managed(repo: &Repo, stock: StockId, sku: &str) -> bool {
    repo.salable_quantities(&StockScope::Stock(stock), &[Sku::parse(sku).unwrap()])
        .await
        .unwrap()
        .1[0]
        .manage_stock
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_stock_copy_of_product_settings_follows_every_write(pool: PgPool) {
    let repo = Repo::new(pool);
    let west = create_source(&repo, "west").await;
    repo.upsert_source_items(&[write("default", "A", "0")])
        .await
        .unwrap();
    let allow = set_product(SettingValues {
        backorders: Some(BackorderMode::Allow),
        ..SettingValues::default()
    });
    let sku = |s: &str| Sku::parse(s).unwrap();
    repo.update_product_settings(&sku("A"), &allow)
        .await
        .unwrap();
    assert_eq!(
        product_copy(&repo, 1, "A").await,
        Some(Some("ALLOW".into()))
    );
    // A SKU with settings but no source items gets them in a row of every stock.
    let unmanaged = set_product(SettingValues {
        manage_stock: Some(false),
        ..SettingValues::default()
    });
    repo.update_product_settings(&sku("B"), &unmanaged)
        .await
        .unwrap();
    assert_eq!(product_copy(&repo, 1, "B").await, Some(None));
    assert!(!managed(&repo, StockId::DEFAULT, "B").await);

    // A stock created after the settings has no row for them: availability reads the settings.
    let two = repo.create_stock("Two").await.unwrap().id;
    assert_eq!(product_copy(&repo, two.get(), "B").await, None);
    assert!(!managed(&repo, two, "B").await);
    // A row created later, by a source item's copy, carries them.
    let link = SourceLink {
        source: west.code.clone(),
        priority: 1,
    };
    repo.link_sources(two, &[link]).await.unwrap();
    repo.upsert_source_items(&[write("west", "B", "4")])
        .await
        .unwrap();
    assert!(product_copy(&repo, two.get(), "B").await.is_some());
    assert!(!managed(&repo, two, "B").await);
    let manage_again = SettingsPatch {
        set: SettingValues::default(),
        clear: vec![SettingField::ManageStock],
    };
    repo.update_product_settings(&sku("B"), &manage_again)
        .await
        .unwrap();
    assert!(managed(&repo, two, "B").await);

    // Writes by hand go through the same triggers: a changed key, and a deletion.
    sqlx::query("UPDATE product_settings SET sku = 'C' WHERE sku = 'A'")
        .execute(repo.pool())
        .await
        .unwrap();
    assert_eq!(product_copy(&repo, 1, "A").await, Some(None));
    assert_eq!(
        product_copy(&repo, 1, "C").await,
        Some(Some("ALLOW".into()))
    );
    assert_eq!(
        product_copy(&repo, two.get(), "C").await,
        Some(Some("ALLOW".into()))
    );
    sqlx::query("DELETE FROM product_settings WHERE sku = 'C'")
        .execute(repo.pool())
        .await
        .unwrap();
    assert_eq!(product_copy(&repo, 1, "C").await, Some(None));
    assert!(differences(&repo).await.is_empty());

    // Damage only a write behind the triggers' back could do is found and repaired.
    sqlx::query(
        "UPDATE stock_sku SET product_backorders = 'NO' \
         WHERE stock_id = 1 AND sku = 'A'",
    )
    .execute(repo.pool())
    .await
    .unwrap();
    let found = differences(&repo).await;
    assert!(
        matches!(
            found.as_slice(),
            [Difference::ProductSettingsCopy { stock_id: 1, sku, repaired: false }] if sku == "A"
        ),
        "{found:?}"
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let summary = repo.check_consistency(true, tx).await.unwrap();
    while rx.recv().await.is_some() {}
    assert_eq!((summary.differences, summary.repaired), (1, 1));
    assert_eq!(product_copy(&repo, 1, "A").await, Some(None));
    assert!(differences(&repo).await.is_empty());
}

/// Whether some session of this test's database waits for a lock.
async fn someone_waits_for_a_lock(repo: &Repo) -> bool {
    sqlx::query_scalar(
        "SELECT count(*) > 0 FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(repo.pool())
    .await
    .unwrap()
}

/// Creates and links a stock named `name` while `settings_write` is open, then commits the write;
/// returns the stock.
async fn stock_created_during(repo: &Repo, settings_write: &'static str, name: &str) -> StockId {
    let mut write = repo.pool().begin().await.unwrap();
    sqlx::query(settings_write)
        .execute(&mut *write)
        .await
        .unwrap();
    let creation = {
        let (repo, name) = (repo.clone(), name.to_owned());
        let link = SourceLink {
            source: SourceCode::parse("west").unwrap(),
            priority: 1,
        };
        tokio::spawn(async move {
            let stock = repo.create_stock(&name).await?.id;
            repo.link_sources(stock, &[link]).await?;
            Ok::<_, RepoError>(stock)
        })
    };
    // The creation either waits for the write's lock or, were there none, links before the write
    // commits; the callers' assertions tell the two apart.
    while !creation.is_finished() && !someone_waits_for_a_lock(repo).await {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    write.commit().await.unwrap();
    creation.await.unwrap().unwrap()
}

/// A stock committed while a product's settings are being written would otherwise get, through a
/// link, a row copied from the settings the write is replacing, after the write's trigger had
/// listed the stocks without it; so creating a stock waits for the write (inserted and updated
/// settings have a trigger each).
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stock_created_during_a_settings_write_gets_the_written_settings(pool: PgPool) {
    let repo = Repo::new(pool);
    create_source(&repo, "west").await;
    repo.upsert_source_items(&[write("west", "A", "5"), write("west", "B", "5")])
        .await
        .unwrap();
    let allow = set_product(SettingValues {
        backorders: Some(BackorderMode::Allow),
        ..SettingValues::default()
    });
    repo.update_product_settings(&Sku::parse("B").unwrap(), &allow)
        .await
        .unwrap();

    let inserted = "INSERT INTO product_settings (sku, backorders) VALUES ('A', 'ALLOW')";
    let stock = stock_created_during(&repo, inserted, "Late").await;
    assert_eq!(
        product_copy(&repo, stock.get(), "A").await,
        Some(Some("ALLOW".into()))
    );
    let updated = "UPDATE product_settings SET backorders = 'ALLOW_NOTIFY' WHERE sku = 'B'";
    let stock = stock_created_during(&repo, updated, "Later").await;
    assert_eq!(
        product_copy(&repo, stock.get(), "B").await,
        Some(Some("ALLOW_NOTIFY".into()))
    );
    assert!(differences(&repo).await.is_empty());
}

/// Deadlocks PostgreSQL detected in this test's database so far.
async fn deadlocks(repo: &Repo) -> i64 {
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(repo.pool())
        .await
        .unwrap()
}

/// Source item and product settings writes now lock the totals rows orders lock (their copies
/// live there), and link changes rewrite them: imports, settings, links, orders and shipments of
/// the same SKUs at once must all succeed without a deadlock, and leave every copy and total
/// consistent.
#[sqlx::test(migrator = "MIGRATOR")]
async fn imports_settings_links_orders_and_shipments_of_the_same_skus_never_deadlock(pool: PgPool) {
    let repo = Repo::new(pool);
    let west = create_source(&repo, "west").await;
    let east = create_source(&repo, "east").await;
    let skus: Vec<String> = (0..12).map(|i| format!("K{i:02}")).collect();
    let items: Vec<SourceItemWrite> = skus
        .iter()
        .flat_map(|s| ["default", "west", "east"].map(|source| write(source, s, "1000")))
        .collect();
    repo.upsert_source_items(&items).await.unwrap();
    let link = SourceLink {
        source: west.code.clone(),
        priority: 2,
    };
    repo.link_sources(StockId::DEFAULT, std::slice::from_ref(&link))
        .await
        .unwrap();
    let before = deadlocks(&repo).await;

    let mut tasks: Vec<tokio::task::JoinHandle<Result<(), RepoError>>> = Vec::new();
    for round in 0..4 {
        let (repo, mut batch) = (repo.clone(), items.clone());
        if round % 2 == 1 {
            batch.reverse();
        }
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                repo.upsert_source_items(&batch).await?;
            }
            Ok(())
        }));
    }
    // The shipping source's links change too, in a stock of its own; east, which half the
    // shipments come from, is linked only there, not to the orders' stock.
    let other = repo.create_stock("Other").await.unwrap().id;
    let east_link = SourceLink {
        source: east.code.clone(),
        priority: 2,
    };
    repo.link_sources(other, &[east_link]).await.unwrap();
    let default_link = SourceLink {
        source: SourceCode::default_source(),
        priority: 1,
    };
    let toggles = [
        (StockId::DEFAULT, "west", link),
        (other, "default", default_link),
    ];
    for (stock, code, relink) in toggles {
        let linker = repo.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                linker
                    .link_sources(stock, std::slice::from_ref(&relink))
                    .await?;
                linker.unlink_sources(stock, &[code]).await?;
            }
            Ok(())
        }));
    }
    let (patcher, source) = (repo.clone(), west.code.clone());
    let patched = skus.clone();
    tasks.push(tokio::spawn(async move {
        let patch = SettingsPatch {
            set: SettingValues {
                backorders: Some(BackorderMode::Allow),
                ..SettingValues::default()
            },
            clear: vec![],
        };
        for sku in patched.iter().rev() {
            let sku = Sku::parse(sku).unwrap();
            patcher
                .update_source_item_settings(&source, &sku, &patch)
                .await?;
        }
        Ok(())
    }));
    // Product settings are copied into the same rows, in every stock.
    let (settler, settled) = (repo.clone(), skus.clone());
    tasks.push(tokio::spawn(async move {
        for (n, sku) in settled.iter().cycle().take(24).enumerate() {
            let sku = Sku::parse(sku).unwrap();
            let patch = if n < 12 {
                set_product(SettingValues {
                    backorders: Some(BackorderMode::AllowNotify),
                    ..SettingValues::default()
                })
            } else {
                SettingsPatch {
                    set: SettingValues::default(),
                    clear: vec![SettingField::Backorders],
                }
            };
            settler.update_product_settings(&sku, &patch).await?;
        }
        Ok(())
    }));
    for client in 0..6 {
        let (repo, skus) = (repo.clone(), skus.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                let mut lines: Vec<_> = (0..3)
                    .map(|k| {
                        (
                            Sku::parse(&skus[(client + n * 5 + k * 4) % 12]).unwrap(),
                            one(),
                        )
                    })
                    .collect();
                if n % 2 == 0 {
                    lines.reverse();
                }
                let order_id = OrderId::parse(&format!("c{client}-{n}")).unwrap();
                let from = SourceCode::parse(["default", "east"][n % 2]).unwrap();
                let shipped = lines
                    .iter()
                    .map(|(sku, quantity)| SourceLine {
                        sku: sku.clone(),
                        source: from.clone(),
                        quantity: *quantity,
                    })
                    .collect();
                repo.place_order(&OrderRequest {
                    order_id: order_id.clone(),
                    channel: SalesChannel::default_website(),
                    cart: None,
                    lines,
                })
                .await?;
                repo.confirm_shipment(&ShipmentRequest {
                    order_id,
                    shipment_id: ShipmentId::parse(&format!("s-c{client}-{n}")).unwrap(),
                    lines: shipped,
                })
                .await?;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every write and order succeeds");
    }
    assert_eq!(
        deadlocks(&repo).await,
        before,
        "no deadlock, even a retried one"
    );
    assert!(differences(&repo).await.is_empty());
}

fn one() -> Quantity {
    Quantity::parse("1").unwrap()
}
