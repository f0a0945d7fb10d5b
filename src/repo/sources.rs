//! Sources in PostgreSQL.

use sqlx::{AssertSqlSafe, PgConnection, PgExecutor};

use super::{
    Repo, RepoError,
    changes::Change,
    error::{is_pg_code, pg_codes},
    retry_conflicts,
    rows::{SOURCE_COLUMNS, SourceRow},
};
use crate::{
    domain::{
        SourceCode,
        source::{Source, SourceDetails, SourceField},
    },
    validation::FieldViolation,
};

impl Repo {
    /// Stores a new source; its code must be new.
    #[tracing::instrument(skip_all, fields(source = %source.code))]
    pub async fn create_source(&self, source: &Source) -> Result<Source, RepoError> {
        let sql = format!(
            "INSERT INTO source (code, enabled, name, description, country, region, city, postcode, \
             street, latitude, longitude, contact_name, contact_email, contact_phone) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING {SOURCE_COLUMNS}"
        );
        let d = &source.details;
        let row = sqlx::query_as::<_, SourceRow>(AssertSqlSafe(sql))
            .bind(source.code.as_str())
            .bind(source.enabled)
            .bind(&d.name)
            .bind(&d.description)
            .bind(&d.address.country)
            .bind(&d.address.region)
            .bind(&d.address.city)
            .bind(&d.address.postcode)
            .bind(&d.address.street)
            .bind(d.location.map(|p| p.latitude()))
            .bind(d.location.map(|p| p.longitude()))
            .bind(&d.contact.name)
            .bind(&d.contact.email)
            .bind(&d.contact.phone)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                if is_pg_code(&e, pg_codes::UNIQUE_VIOLATION) {
                    RepoError::AlreadyExists {
                        kind: "source",
                        name: source.code.to_string(),
                    }
                } else {
                    e.into()
                }
            })?;
        row.try_into()
    }

    /// Reads one source.
    #[tracing::instrument(skip_all, fields(source = %code))]
    pub async fn get_source(&self, code: &SourceCode) -> Result<Source, RepoError> {
        find_source(&self.pool, code, false).await
    }

    /// Lists sources by code, after the given one.
    #[tracing::instrument(skip_all)]
    pub async fn list_sources(
        &self,
        after: Option<&str>,
        limit: u32,
        only: Option<&[String]>,
    ) -> Result<Vec<Source>, RepoError> {
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM source WHERE ($1::text IS NULL OR code > $1) \
             AND ($3::text[] IS NULL OR code = ANY($3)) ORDER BY code LIMIT $2"
        );
        let rows = self
            .read_anywhere(0, |pool| {
                let sql = sql.clone();
                async move {
                    Ok(sqlx::query_as::<_, SourceRow>(AssertSqlSafe(sql))
                        .bind(after)
                        .bind(i64::from(limit))
                        .bind(only)
                        .fetch_all(&pool)
                        .await?)
                }
            })
            .await?;
        rows.into_iter().map(Source::try_from).collect()
    }

    /// Changes the named descriptive fields of a source.
    #[tracing::instrument(skip_all, fields(source = %code))]
    pub async fn update_source(
        &self,
        code: &SourceCode,
        update: &SourceDetails,
        fields: &[SourceField],
    ) -> Result<Source, RepoError> {
        retry_conflicts(|| async {
            let mut tx = self.pool.begin().await?;
            let mut source = find_source(&mut *tx, code, true).await?;
            source.details.merge(update, fields);
            let saved = save_details(&mut *tx, &source).await?;
            tx.commit().await?;
            Ok(saved)
        })
        .await
    }

    /// Enables or disables a source.
    #[tracing::instrument(skip_all, fields(source = %code, enabled))]
    pub async fn set_source_enabled(
        &self,
        code: &SourceCode,
        enabled: bool,
    ) -> Result<Source, RepoError> {
        let sql = format!(
            "UPDATE source SET enabled = $2, updated_at = now() WHERE code = $1 \
             RETURNING {SOURCE_COLUMNS}"
        );
        let source = sqlx::query_as::<_, SourceRow>(AssertSqlSafe(sql))
            .bind(code.as_str())
            .bind(enabled)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found(code))?
            .try_into()?;
        self.changed(Change::Everything);
        Ok(source)
    }
}

async fn find_source<'e>(
    db: impl PgExecutor<'e>,
    code: &SourceCode,
    for_update: bool,
) -> Result<Source, RepoError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM source WHERE code = $1{lock}");
    sqlx::query_as::<_, SourceRow>(AssertSqlSafe(sql))
        .bind(code.as_str())
        .fetch_optional(db)
        .await?
        .ok_or_else(|| not_found(code))?
        .try_into()
}

async fn save_details<'e>(db: impl PgExecutor<'e>, source: &Source) -> Result<Source, RepoError> {
    let sql = format!(
        "UPDATE source SET name = $2, description = $3, country = $4, region = $5, city = $6, \
         postcode = $7, street = $8, latitude = $9, longitude = $10, contact_name = $11, \
         contact_email = $12, contact_phone = $13, updated_at = now() WHERE code = $1 \
         RETURNING {SOURCE_COLUMNS}"
    );
    let d = &source.details;
    sqlx::query_as::<_, SourceRow>(AssertSqlSafe(sql))
        .bind(source.code.as_str())
        .bind(&d.name)
        .bind(&d.description)
        .bind(&d.address.country)
        .bind(&d.address.region)
        .bind(&d.address.city)
        .bind(&d.address.postcode)
        .bind(&d.address.street)
        .bind(d.location.map(|p| p.latitude()))
        .bind(d.location.map(|p| p.longitude()))
        .bind(&d.contact.name)
        .bind(&d.contact.email)
        .bind(&d.contact.phone)
        .fetch_one(db)
        .await?
        .try_into()
}

fn not_found(code: &SourceCode) -> RepoError {
    RepoError::NotFound {
        kind: "source",
        name: code.to_string(),
    }
}

/// Answers INVALID_ARGUMENT naming each position of `codes` that is not a source;
/// `path` names the request field of position i.
pub(super) async fn reject_unknown_sources(
    conn: &mut PgConnection,
    codes: &[&str],
    path: impl Fn(usize) -> String,
) -> Result<(), RepoError> {
    let missing = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT c FROM unnest($1::text[]) AS c \
         WHERE NOT EXISTS (SELECT 1 FROM source WHERE code = c)",
    )
    .bind(codes)
    .fetch_all(conn)
    .await?;
    if missing.is_empty() {
        return Ok(());
    }
    let violations = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| missing.iter().any(|m| m == *code))
        .map(|(i, code)| FieldViolation::new(path(i), format!("source {code} does not exist")))
        .collect();
    Err(RepoError::Invalid(violations))
}
