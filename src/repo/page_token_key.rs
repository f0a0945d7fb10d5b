//! The key page tokens are signed with (docs/decisions/0010-page-tokens.md): one per database,
//! so every replica and every restart accepts the tokens any of them issued.

use std::sync::Arc;

use super::{Repo, RepoError};

impl Repo {
    /// The page-token key, read from the database on first use and kept for the process's life.
    pub async fn page_token_key(&self) -> Result<Arc<[u8]>, RepoError> {
        let key = self
            .page_token_key
            .get_or_try_init(|| async {
                let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM page_token_key")
                    .fetch_one(&self.pool)
                    .await?;
                Ok::<_, RepoError>(Arc::from(secret))
            })
            .await?;
        Ok(Arc::clone(key))
    }
}
