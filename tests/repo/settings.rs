//! Settings in the repository: concurrent patches of one level do not lose each other's values.

use sqlx::PgPool;
use stockd::{
    domain::{
        BackorderMode, Quantity, Sku,
        settings_patch::{SettingValues, SettingsPatch},
    },
    repo::{MIGRATOR, Repo},
};

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_patches_of_different_fields_both_stick(pool: PgPool) {
    let repo = Repo::new(pool);
    let sku = Sku::parse("SKU-1").unwrap();
    let backorders = SettingsPatch {
        set: SettingValues {
            backorders: Some(BackorderMode::Allow),
            ..SettingValues::default()
        },
        clear: vec![],
    };
    let threshold = SettingsPatch {
        set: SettingValues {
            out_of_stock_threshold: Some(Quantity::parse("-7").unwrap()),
            ..SettingValues::default()
        },
        clear: vec![],
    };
    let (a, b) = tokio::join!(
        repo.update_product_settings(&sku, &backorders),
        repo.update_product_settings(&sku, &threshold)
    );
    a.unwrap();
    b.unwrap();
    let view = repo.product_settings(&sku).await.unwrap();
    assert_eq!(view.stored.backorders, Some(BackorderMode::Allow));
    assert_eq!(
        view.stored.out_of_stock_threshold,
        Some(Quantity::parse("-7").unwrap())
    );
}
