//! Stock counts in the repository: history written by triggers whatever path writes, the
//! fallback for writes made outside stockd, concurrency of adjustments and compare-and-set, and
//! pruning by age.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use rust_decimal::Decimal;
use sqlx::PgPool;
use stockd::{
    clock::ManualClock,
    domain::{
        Quantity, Sku, SourceCode, SourceItemStatus,
        stock_count::{ChangeReason, Delta, IdempotencyKey},
    },
    repo::{
        DEFAULT_HOLD_POLICY, MIGRATOR, Repo, RepoError,
        adjustments::AdjustmentRequest,
        history::{HistoryFilter, QuantityChange, acting_as},
        source_items::SourceItemWrite,
    },
};

fn write(sku: &str, qty: &str) -> SourceItemWrite {
    SourceItemWrite {
        source: SourceCode::parse("default").unwrap(),
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::parse(qty).unwrap(),
        status: SourceItemStatus::InStock,
    }
}

fn adjustment(key: &str, sku: &str, delta: &str) -> AdjustmentRequest {
    AdjustmentRequest {
        key: IdempotencyKey::parse(key).unwrap(),
        reason: ChangeReason::Correction,
        note: String::new(),
        deltas: vec![Delta {
            source: SourceCode::parse("default").unwrap(),
            sku: Sku::parse(sku).unwrap(),
            delta: Quantity::parse(delta).unwrap(),
        }],
    }
}

async fn history(repo: &Repo, sku: &str) -> Vec<QuantityChange> {
    let filter = HistoryFilter::Sku(Sku::parse(sku).unwrap());
    repo.list_source_item_history(&filter, None, 1000, None)
        .await
        .unwrap()
}

async fn quantity(pool: &PgPool, sku: &str) -> Decimal {
    sqlx::query_scalar(
        "SELECT quantity FROM source_item WHERE source_code = 'default' AND sku = $1",
    )
    .bind(sku)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_write_outside_stockd_is_recorded_as_unrecorded_with_its_database_role(pool: PgPool) {
    let repo = Repo::new(pool.clone());
    repo.upsert_source_items(&[write("A", "5")]).await.unwrap();

    sqlx::query("UPDATE source_item SET quantity = 9 WHERE sku = 'A'")
        .execute(&pool)
        .await
        .unwrap();

    let role: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    let newest = &history(&repo, "A").await[0];
    assert_eq!(newest.reason, "UNRECORDED");
    assert_eq!(newest.caller, format!("db:{role}"));
    assert_eq!(newest.quantity_before, Some(Decimal::from(5)));
    assert_eq!(newest.quantity_after, Some(Decimal::from(9)));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn changes_of_status_or_settings_alone_leave_no_history(pool: PgPool) {
    let repo = Repo::new(pool.clone());
    repo.upsert_source_items(&[write("A", "5")]).await.unwrap();
    let mut off_sale = write("A", "5");
    off_sale.status = SourceItemStatus::OutOfStock;

    repo.upsert_source_items(&[off_sale]).await.unwrap();
    sqlx::query("UPDATE source_item SET backorders = 'ALLOW' WHERE sku = 'A'")
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(history(&repo, "A").await.len(), 1, "only the creation");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_task_s_caller_and_the_repository_s_clock_are_recorded(pool: PgPool) {
    let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let clock = ManualClock::new(start);
    let repo = Repo::with_clock(pool, Arc::new(clock), DEFAULT_HOLD_POLICY);

    acting_as(
        "importer".to_owned(),
        repo.upsert_source_items(&[write("A", "5")]),
    )
    .await
    .unwrap();

    let change = &history(&repo, "A").await[0];
    assert_eq!(change.caller, "importer");
    assert_eq!(change.reason, "UPSERT");
    assert_eq!(
        change.changed_at.timestamp_micros(),
        start.timestamp_micros()
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_removals_never_take_a_count_below_zero(pool: PgPool) {
    let repo = Repo::new(pool.clone());
    repo.upsert_source_items(&[write("A", "5")]).await.unwrap();

    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.adjust_source_items(&adjustment(&format!("k{n}"), "A", "-1"))
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => applied += 1,
            Err(RepoError::Refused(refusals)) => assert_eq!(refusals[0].code, "QTY_BELOW_ZERO"),
            Err(other) => panic!("{other:?}"),
        }
    }

    assert_eq!(applied, 5);
    assert_eq!(quantity(&pool, "A").await, Decimal::ZERO);
    let corrections = history(&repo, "A")
        .await
        .iter()
        .filter(|c| c.reason == "CORRECTION")
        .count();
    assert_eq!(corrections, 5);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_copies_of_an_adjustment_apply_it_once(pool: PgPool) {
    let repo = Repo::new(pool.clone());
    repo.upsert_source_items(&[write("A", "5")]).await.unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.adjust_source_items(&adjustment("same", "A", "3"))
                    .await
            })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        let adjusted = task.await.unwrap().unwrap();
        assert_eq!(adjusted.items[0].quantity_after, Decimal::from(8));
        first += usize::from(!adjusted.replayed);
    }

    assert_eq!(first, 1);
    assert_eq!(quantity(&pool, "A").await, Decimal::from(8));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn of_two_syncs_expecting_the_same_quantity_one_is_refused(pool: PgPool) {
    let repo = Repo::new(pool.clone());
    repo.upsert_source_items(&[write("A", "5"), write("B", "5")])
        .await
        .unwrap();
    let expected = [Some(Quantity::parse("5").unwrap()), None];

    let syncs: Vec<_> = ["6", "7"]
        .into_iter()
        .map(|qty| {
            let (repo, expected) = (repo.clone(), expected);
            tokio::spawn(async move {
                repo.upsert_source_items_expecting(&[write("A", qty), write("B", qty)], &expected)
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for sync in syncs {
        outcomes.push(sync.await.unwrap());
    }

    let stale: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Err(RepoError::StaleCounts(stale)) => Some(stale.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stale.len(), 1, "{outcomes:?}");
    assert_eq!(stale[0][0].item, 0);
    let winner = quantity(&pool, "A").await;
    assert_eq!(stale[0][0].current, Some(winner));
    assert_eq!(
        quantity(&pool, "B").await,
        winner,
        "the loser wrote nothing"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn pruning_removes_only_history_and_keys_older_than_the_period(pool: PgPool) {
    let clock = ManualClock::new(Utc::now());
    let repo = Repo::with_clock(pool, Arc::new(clock.clone()), DEFAULT_HOLD_POLICY);
    repo.upsert_source_items(&[write("A", "5")]).await.unwrap();
    repo.adjust_source_items(&adjustment("old", "A", "1"))
        .await
        .unwrap();
    clock.advance(chrono::Duration::days(10));
    repo.adjust_source_items(&adjustment("new", "A", "1"))
        .await
        .unwrap();
    let week = Duration::from_secs(7 * 86_400);

    let first = repo.prune_history(week, 1).await.unwrap();
    let rest = repo.prune_history(week, 1000).await.unwrap();
    let none = repo.prune_history(week, 1000).await.unwrap();

    assert_eq!(first, (1, 1), "one batch of one");
    assert_eq!(rest, (1, 0));
    assert_eq!(none, (0, 0));
    let left: Vec<String> = history(&repo, "A")
        .await
        .into_iter()
        .map(|c| c.reference)
        .collect();
    assert_eq!(left, ["new"]);
    let replay = repo
        .adjust_source_items(&adjustment("new", "A", "1"))
        .await
        .unwrap();
    assert!(replay.replayed, "a key inside the period is still answered");
}
