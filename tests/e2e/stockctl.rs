//! stockctl, the real binary, against a real server: CSV import and export, and settings.

use std::path::PathBuf;

use serde_json::Value;
use sqlx::PgPool;
use stockd::{grpc::pb, repo::MIGRATOR};

use crate::support::TestApp;

const HEADER: &str = "source_code,sku,status,quantity,backorders,out_of_stock_threshold,\
                      notify_stock_qty,restock_date,restock_qty\n";

/// What a stockctl run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The last line of stdout as JSON (the summary, with `--json`).
    fn last_json(&self) -> Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }

    /// The errors `--json` reported, as (line, sku, column).
    fn errors(&self) -> Vec<(u64, String, String)> {
        let first: Value = serde_json::from_str(self.stdout.lines().next().unwrap()).unwrap();
        first["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {self:?}"))
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().unwrap(),
                    e["sku"].as_str().unwrap().to_owned(),
                    e["column"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs stockctl off the runtime's threads, so the in-process server keeps serving.
async fn stockctl(app: &TestApp, args: &[&str]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stockctl"));
    command
        .arg("--addr")
        .arg(&app.url)
        .arg("--json")
        .args(args)
        .env_remove("STOCKCTL_TOKEN");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A file of the test's own with these bytes.
fn file(bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "stockctl-{}-{:016x}.csv",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

async fn quantity(app: &TestApp, source: &str, sku: &str) -> Option<String> {
    app.items()
        .get_source_item(pb::GetSourceItemRequest {
            source_code: source.into(),
            sku: sku.into(),
        })
        .await
        .ok()
        .map(|r| r.into_inner().quantity)
}

async fn item_settings(app: &TestApp, source: &str, sku: &str) -> pb::SettingValues {
    app.settings()
        .get_source_item_settings(pb::GetSourceItemSettingsRequest {
            source_code: source.into(),
            sku: sku.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stored
        .unwrap_or_default()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn import_writes_quantities_status_and_settings(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("eu").await;
    let csv = format!(
        "{HEADER}default,SKU-1,1,10,1,-2,3,2026-12-01,40\neu,SKU-1,0,5.50,,,,,\ndefault,SKU-2,,7,,,,,\n"
    );
    let path = file(csv.as_bytes());
    let run = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.last_json()["rows_written"], 3);
    assert_eq!(run.last_json()["settings_updated"], 1);
    assert_eq!(
        quantity(&app, "default", "SKU-1").await.as_deref(),
        Some("10")
    );
    assert_eq!(quantity(&app, "eu", "SKU-1").await.as_deref(), Some("5.5"));
    let stored = item_settings(&app, "default", "SKU-1").await;
    assert_eq!(stored.backorders, Some(pb::BackorderMode::Allow as i32));
    assert_eq!(stored.out_of_stock_threshold.as_deref(), Some("-2"));
    assert_eq!(stored.restock_date.as_deref(), Some("2026-12-01"));
    assert_eq!(stored.restock_qty.as_deref(), Some("40"));
    assert_eq!(
        item_settings(&app, "eu", "SKU-1").await,
        pb::SettingValues::default()
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn dry_run_names_each_bad_row_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let csv = format!(
        "{HEADER}default,OK-1,1,1,,,,,\n\
         default,BAD-QTY,1,ten,,,,,\n\
         default,BAD-DATE,1,1,,,,2026-13-01,\n\
         nowhere,BAD-SOURCE,1,1,,,,,\n\
         default,BAD-MODE,1,1,7,,,,\n\
         default,OK-1,1,2,,,,,\n"
    );
    let path = file(csv.as_bytes());
    let run = stockctl(
        &app,
        &["import", "source-items", "--dry-run", path_str(&path)],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let expected = [
        (3, "BAD-QTY", "quantity"),
        (4, "BAD-DATE", "restock_date"),
        (5, "BAD-SOURCE", "source_code"),
        (6, "BAD-MODE", "backorders"),
        (7, "OK-1", "sku"),
    ]
    .map(|(line, sku, column)| (line, sku.to_owned(), column.to_owned()));
    assert_eq!(run.errors(), expected);
    assert_eq!(quantity(&app, "default", "OK-1").await, None);

    let real = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(real.code, 2, "{real:?}");
    assert_eq!(
        quantity(&app, "default", "OK-1").await,
        None,
        "nothing written"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn invalid_utf8_is_named_and_allow_partial_writes_the_good_rows(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut csv = b"source_code,sku,status,quantity\ndefault,GOOD,1,4\ndefault,BAD-".to_vec();
    csv.extend_from_slice(&[0xff, 0xfe]);
    csv.extend_from_slice(b",1,4\n");
    let path = file(&csv);
    let run = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.errors(), vec![(3, String::new(), "sku".to_owned())]);
    assert_eq!(quantity(&app, "default", "GOOD").await, None);

    let partial = stockctl(
        &app,
        &["import", "source-items", "--allow-partial", path_str(&path)],
    )
    .await;
    assert_eq!(partial.code, 2, "{partial:?}");
    assert_eq!(partial.last_json()["rows_written"], 1);
    assert_eq!(
        quantity(&app, "default", "GOOD").await.as_deref(),
        Some("4")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn unknown_missing_and_custom_attribute_headers_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let path = file(b"source_code,sku,qty,attr:color\ndefault,A,1,red\n");
    let run = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let header: Value = run.last_json();
    let errors: Vec<&str> = header["header_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(errors[0].contains("\"qty\" is unknown"), "{errors:?}");
    assert!(errors[1].contains("custom attributes"), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("\"status\" is missing")));
    assert!(errors.iter().any(|e| e.contains("\"quantity\" is missing")));
    assert_eq!(quantity(&app, "default", "A").await, None);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rerun_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let csv = format!("{HEADER}default,SKU-1,1,10,2,,5,,\ndefault,SKU-2,0,3,,,,,\n");
    let path = file(csv.as_bytes());
    let first = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let again = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.last_json()["settings_updated"], 0);
    assert_eq!(
        quantity(&app, "default", "SKU-1").await.as_deref(),
        Some("10")
    );
    let stored = item_settings(&app, "default", "SKU-1").await;
    assert_eq!(
        stored.backorders,
        Some(pb::BackorderMode::AllowNotify as i32)
    );
    assert_eq!(stored.notify_stock_qty.as_deref(), Some("5"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn adjust_mode_applies_each_batch_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[
        ("default", "A", "10"),
        ("default", "B", "10"),
        ("default", "C", "10"),
    ])
    .await;
    let path = file(b"source_code,sku,quantity\ndefault,A,5\ndefault,B,-2.5\ndefault,C,0\n");
    let args = [
        "import",
        "source-items",
        "--mode",
        "adjust",
        "--reason",
        "received",
        "--batch-size",
        "1",
        path_str(&path),
    ];
    let first = stockctl(&app, &args).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.last_json()["rows_written"], 2);
    assert_eq!(first.last_json()["zero_deltas_skipped"], 1);
    let again = stockctl(&app, &args).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.last_json()["replayed_batches"], 2);
    assert_eq!(quantity(&app, "default", "A").await.as_deref(), Some("15"));
    assert_eq!(quantity(&app, "default", "B").await.as_deref(), Some("7.5"));
    assert_eq!(quantity(&app, "default", "C").await.as_deref(), Some("10"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn export_then_import_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_source("eu").await;
    let csv = format!(
        "{HEADER}default,MUG-1,1,10,1,-2,3,2026-12-01,40\n\
         eu,MUG-1,0,5.5,,,,,\n\
         default,TEE-1,1,0,0,,,,\n"
    );
    let path = file(csv.as_bytes());
    let run = stockctl(&app, &["import", "source-items", path_str(&path)]).await;
    assert_eq!(run.code, 0, "{run:?}");

    let exported = file(b"");
    let export = stockctl(&app, &["export", "source-items", "-o", path_str(&exported)]).await;
    assert_eq!(export.code, 0, "{export:?}");
    let first = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(first.lines().count(), 4, "{first}");

    let reimport = stockctl(&app, &["import", "source-items", path_str(&exported)]).await;
    assert_eq!(reimport.code, 0, "{reimport:?}");
    assert_eq!(reimport.last_json()["settings_updated"], 0);
    let again = stockctl(&app, &["export", "source-items"]).await;
    assert_eq!(again.stdout, first);

    let mugs = stockctl(
        &app,
        &[
            "export",
            "source-items",
            "--sku-prefix",
            "MUG",
            "--source",
            "eu",
        ],
    )
    .await;
    assert_eq!(
        mugs.stdout.lines().skip(1).collect::<Vec<_>>(),
        ["eu,MUG-1,0,5.5,,,,,"]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn settings_set_and_get_on_three_levels(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "SKU-1", "1")]).await;
    let global = stockctl(&app, &["settings", "set", "global", "notify_stock_qty=4"]).await;
    assert_eq!(global.code, 0, "{global:?}");
    let product = stockctl(
        &app,
        &["settings", "set", "product", "SKU-1", "backorders=allow"],
    )
    .await;
    assert_eq!(product.code, 0, "{product:?}");
    let item = stockctl(
        &app,
        &[
            "settings",
            "set",
            "item",
            "default",
            "SKU-1",
            "restock_qty=9",
        ],
    )
    .await;
    assert_eq!(item.code, 0, "{item:?}");

    let read = stockctl(&app, &["settings", "get", "item", "default", "SKU-1"]).await;
    let rows = read.last_json();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["setting"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {read:?}"))
    };
    assert_eq!(row("restock_qty")["stored"], "9");
    assert_eq!(row("backorders")["effective"], "allow");
    assert_eq!(row("notify_stock_qty")["effective"], "4");

    let cleared = stockctl(
        &app,
        &["settings", "set", "product", "SKU-1", "backorders="],
    )
    .await;
    assert_eq!(cleared.code, 0, "{cleared:?}");
    let stored = app
        .settings()
        .get_product_settings(pb::GetProductSettingsRequest {
            sku: "SKU-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .stored
        .unwrap_or_default();
    assert_eq!(stored.backorders, None);
    let bad = stockctl(&app, &["settings", "set", "global", "colour=red"]).await;
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("unknown setting"), "{bad:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn availability_order_holders_and_consistency(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.stock_items(&[("default", "MUG", "10")]).await;
    app.reservations()
        .place_order(pb::PlaceOrderRequest {
            order_id: "100000001".into(),
            sales_channel: Some(pb::SalesChannel {
                r#type: "website".into(),
                code: "base".into(),
            }),
            lines: vec![pb::QuantityLine {
                sku: "MUG".into(),
                quantity: "3".into(),
            }],
            cart_id: String::new(),
        })
        .await
        .unwrap();

    let salable = stockctl(&app, &["availability", "MUG"]).await;
    assert_eq!(salable.last_json()[0]["salable_qty"], "7", "{salable:?}");
    let holders = stockctl(&app, &["holders", "MUG"]).await;
    assert_eq!(holders.last_json()[0]["id"], "100000001", "{holders:?}");
    let order = stockctl(&app, &["order", "get", "100000001"]).await;
    assert_eq!(order.last_json()[0]["open"], "3", "{order:?}");
    let canceled = stockctl(&app, &["order", "cancel", "100000001"]).await;
    assert_eq!(canceled.last_json()[0]["canceled"], "3", "{canceled:?}");
    let retried = stockctl(&app, &["order", "cancel", "100000001"]).await;
    assert_eq!(retried.code, 0, "{retried:?}");

    let check = stockctl(&app, &["consistency", "check"]).await;
    assert_eq!(check.last_json()["summary"]["differences"], 0, "{check:?}");
    let repair = stockctl(&app, &["consistency", "repair", "--yes"]).await;
    assert_eq!(repair.code, 0, "{repair:?}");
    let unasked = stockctl(&app, &["consistency", "repair"]).await;
    assert_eq!(unasked.code, 1, "no answer on stdin is no: {unasked:?}");
}
