//! Installations of the App and the repositories each may see.

use serde_json::Value;
use sqlx::Row;

use super::{decode_error, Installation, NewInstallation, Pool, Store, StoreError};

macro_rules! installation_from_row {
    ($row:expr) => {{
        let row = $row;
        let repositories: String = row.try_get("repositories")?;
        Installation {
            id: row.try_get("id")?,
            account_login: row.try_get("account_login")?,
            target_type: row.try_get("target_type")?,
            repositories: serde_json::from_str(&repositories)
                .map_err(|e| decode_error("repositories", e))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            removed_at: row.try_get("removed_at")?,
        }
    }};
}

impl Store {
    /// Creates or refreshes an installation (and clears a removal).
    pub async fn upsert_installation(
        &self,
        installation: &NewInstallation,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let repositories = repository_list(installation.repositories.iter().cloned());
        with_write!(self, "upsert_installation", |pool| {
            sqlx::query(
                "INSERT INTO installations \
                 (id, account_login, target_type, repositories, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login, \
                   target_type = excluded.target_type, repositories = excluded.repositories, \
                   updated_at = excluded.updated_at, removed_at = NULL",
            )
            .bind(installation.id)
            .bind(installation.account_login.as_str())
            .bind(installation.target_type.as_str())
            .bind(repositories.as_str())
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records that the App was uninstalled; the row is kept. Returns false
    /// for an unknown installation.
    pub async fn mark_installation_removed(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_write!(self, "mark_installation_removed", |pool| {
            let done = sqlx::query(
                "UPDATE installations SET removed_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Adds and removes repositories (full names) of an installation, as
    /// `installation_repositories` events report them. Returns false for an
    /// unknown installation.
    pub async fn set_installation_repositories(
        &self,
        id: i64,
        add: &[String],
        remove: &[String],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_write!(self, "set_installation_repositories", |pool| {
            let mut tx = pool.begin().await?;
            // Writing first takes the row lock (PostgreSQL) or the write lock
            // (SQLite) before the list is read, so concurrent changes queue up.
            let touched = sqlx::query("UPDATE installations SET updated_at = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let current: String =
                sqlx::query_scalar("SELECT repositories FROM installations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let current: Vec<String> =
                serde_json::from_str(&current).map_err(|e| decode_error("repositories", e))?;
            let updated = repository_list(
                current
                    .into_iter()
                    .chain(add.iter().cloned())
                    .filter(|name| !remove.contains(name)),
            );
            sqlx::query("UPDATE installations SET repositories = $1 WHERE id = $2")
                .bind(updated.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The installation with this id, removed or not.
    pub async fn installation(&self, id: i64) -> Result<Option<Installation>, StoreError> {
        with_pool!(self, "installation", |pool| {
            let row = sqlx::query(
                "SELECT id, account_login, target_type, repositories, created_at, updated_at, \
                 removed_at FROM installations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(installation_from_row!(&row))),
                None => Ok(None),
            }
        })
    }
}

/// Sorted, duplicate-free JSON list of repository names.
fn repository_list(names: impl Iterator<Item = String>) -> String {
    let names: std::collections::BTreeSet<String> = names.collect();
    Value::from(names.into_iter().collect::<Vec<_>>()).to_string()
}
