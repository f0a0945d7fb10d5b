//! The service's own pool: what every session it opens is told at connection time.

use secrecy::SecretString;
use sqlx::PgPool;
use stockd::{
    config::DatabaseConfig,
    repo::{self, MIGRATOR},
};

use crate::support::own_database_url;

#[sqlx::test(migrator = "MIGRATOR")]
async fn sessions_name_themselves_and_reuse_generic_plans(pool: PgPool) {
    let config = DatabaseConfig {
        database_url: SecretString::from(own_database_url(&pool)),
        db_max_connections: 1,
        db_acquire_timeout_secs: 5,
    };
    let service = repo::connect(&config).unwrap();
    let (name, plans): (String, String) = sqlx::query_as(
        "SELECT current_setting('application_name'), current_setting('plan_cache_mode')",
    )
    .fetch_one(&service)
    .await
    .unwrap();
    assert_eq!(name, "stockd");
    assert_eq!(
        plans, "force_generic_plan",
        "key lookups are planned once per connection, not on every call"
    );
    service.close().await;
}
