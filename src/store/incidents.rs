//! Incidents, and the pull requests each is linked to (derived, rebuilt by
//! `crate::production`) or that a maintainer said it is not.

use sqlx::Row;

use super::{NewAuditEvent, Pool, Store, StoreError};
use crate::labels::incidents::{Incident, Link, LinkReason};

/// What [`Store::upsert_incident`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentWrite {
    Created,
    /// The incident was known and some field changed (it was resolved, say).
    Updated,
    Unchanged,
}

/// A maintainer's rejection of an incident → pull request link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkRejection {
    pub incident_id: String,
    pub repository: String,
    pub pr_number: i64,
    pub rejected_by: Option<String>,
    pub note: Option<String>,
    pub at: i64,
}

/// A stored link with the time it was first made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredLink {
    pub link: Link,
    pub created_at: i64,
}

/// What [`Store::sync_incident_links`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChanges {
    pub added: Vec<Link>,
    pub removed: Vec<Link>,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown link reason `{0}`")]
struct UnknownLinkReason(String);

macro_rules! incident_from_row {
    ($row:expr) => {{
        let row = $row;
        Incident {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            title: row.try_get("title")?,
            repository: row.try_get("repository")?,
            service: row.try_get("service")?,
            environment: row.try_get("environment")?,
            opened_at: row.try_get("opened_at")?,
            resolved_at: row.try_get("resolved_at")?,
            commit_sha: row.try_get("commit_sha")?,
            pr_number: row.try_get("pr_number")?,
            body: row.try_get("body")?,
        }
    }};
}

macro_rules! link_from_row {
    ($row:expr) => {{
        let row = $row;
        let reason: String = row.try_get("reason")?;
        Link {
            incident_id: row.try_get("incident_id")?,
            repository: row.try_get("repository")?,
            pr_number: row.try_get("pr_number")?,
            reason: LinkReason::parse(&reason)
                .ok_or_else(|| super::decode_error("reason", UnknownLinkReason(reason.clone())))?,
            why: row.try_get("why")?,
            deployment_id: row.try_get("deployment_id")?,
        }
    }};
}

const INCIDENT_COLUMNS: &str = "id, source, title, repository, service, environment, opened_at, \
     resolved_at, commit_sha, pr_number, body";

/// Creates incident `$1` or updates it in place: `$2`…`$11` its fields in the order of
/// [`INCIDENT_COLUMNS`], `$12` now.
const UPSERT_INCIDENT: &str = "INSERT INTO incidents (id, source, title, repository, service, \
     environment, opened_at, resolved_at, commit_sha, pr_number, body, recorded_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
     ON CONFLICT (id) DO UPDATE SET source = excluded.source, \
     title = excluded.title, repository = excluded.repository, \
     service = excluded.service, environment = excluded.environment, \
     opened_at = excluded.opened_at, resolved_at = excluded.resolved_at, \
     commit_sha = excluded.commit_sha, pr_number = excluded.pr_number, \
     body = excluded.body, updated_at = excluded.updated_at";

impl Store {
    /// Records an incident, keyed on its id: the same incident again changes nothing, a
    /// changed one (resolved since, say) is updated in place.
    pub async fn upsert_incident(
        &self,
        i: &Incident,
        now_ms: i64,
    ) -> Result<IncidentWrite, StoreError> {
        let writes = self
            .upsert_incidents(std::slice::from_ref(i), now_ms, |_, _| Vec::new())
            .await?;
        Ok(writes[0])
    }

    /// Records incidents as [`Store::upsert_incident`] does, in one transaction, with the
    /// audit events `audit` gives for each one created or updated (given its place in
    /// `incidents` and what was done). All of it is written, or nothing.
    pub async fn upsert_incidents(
        &self,
        incidents: &[Incident],
        now_ms: i64,
        audit: impl Fn(usize, IncidentWrite) -> Vec<NewAuditEvent>,
    ) -> Result<Vec<IncidentWrite>, StoreError> {
        with_write!(self, "upsert_incidents", |pool| {
            let select = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
            let mut tx = pool.begin().await?;
            let mut writes = Vec::with_capacity(incidents.len());
            for (at, i) in incidents.iter().enumerate() {
                let row = sqlx::query(&select)
                    .bind(i.id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let existing = match row {
                    Some(row) => Some(incident_from_row!(&row)),
                    None => None,
                };
                let write = match existing {
                    Some(e) if e == *i => IncidentWrite::Unchanged,
                    Some(_) => IncidentWrite::Updated,
                    None => IncidentWrite::Created,
                };
                writes.push(write);
                if write == IncidentWrite::Unchanged {
                    continue;
                }
                sqlx::query(UPSERT_INCIDENT)
                    .bind(i.id.as_str())
                    .bind(i.source.as_str())
                    .bind(i.title.as_str())
                    .bind(i.repository.as_deref())
                    .bind(i.service.as_deref())
                    .bind(i.environment.as_deref())
                    .bind(i.opened_at)
                    .bind(i.resolved_at)
                    .bind(i.commit_sha.as_deref())
                    .bind(i.pr_number)
                    .bind(i.body.as_deref())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                for event in audit(at, write) {
                    insert_audit!(&mut *tx, &event);
                }
            }
            tx.commit().await?;
            Ok(writes)
        })
    }

    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        with_pool!(self, "incident", |pool| {
            let row = sqlx::query(&format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(incident_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Every incident, oldest first; the caller decides which concern a repository (an
    /// incident may name a service rather than a repository).
    pub async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        with_pool!(self, "incidents", |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY opened_at, id"
            ))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(incident_from_row!(row));
            }
            Ok(out)
        })
    }

    /// The incidents that concern `repository` (see [`Incident::concerns`]), chosen in the
    /// database rather than by reading every repository's incidents.
    pub async fn incidents_concerning(
        &self,
        repository: &str,
    ) -> Result<Vec<Incident>, StoreError> {
        let name = repository.rsplit('/').next().unwrap_or(repository);
        let incidents = with_pool!(self, "incidents_concerning", |pool| {
            // lower() folds at least what `concerns` folds (ASCII), so this keeps every
            // incident it would; `concerns` then decides.
            let rows = sqlx::query(&format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents \
                 WHERE lower(repository) = lower($1) \
                    OR (repository IS NULL AND lower(service) IN (lower($1), lower($2))) \
                 ORDER BY opened_at, id"
            ))
            .bind(repository)
            .bind(name)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(incident_from_row!(row));
            }
            Ok(out)
        })?;
        Ok(incidents
            .into_iter()
            .filter(|i| i.concerns(repository))
            .collect())
    }

    // ----- incident links -------------------------------------------------

    /// Makes the stored links of `repository` equal to `links` (rejected ones must already
    /// be left out), in one transaction; says which were added and which went away.
    pub async fn sync_incident_links(
        &self,
        repository: &str,
        links: &[Link],
        now_ms: i64,
    ) -> Result<LinkChanges, StoreError> {
        with_write!(self, "sync_incident_links", |pool| {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(
                "SELECT incident_id, repository, pr_number, reason, why, deployment_id \
                 FROM incident_links WHERE repository = $1",
            )
            .bind(repository)
            .fetch_all(&mut *tx)
            .await?;
            let mut current = Vec::with_capacity(rows.len());
            for row in &rows {
                current.push(link_from_row!(row));
            }
            let key = |l: &Link| (l.incident_id.clone(), l.pr_number);
            let wanted: std::collections::BTreeMap<_, &Link> =
                links.iter().map(|l| (key(l), l)).collect();
            let had: std::collections::BTreeMap<_, &Link> =
                current.iter().map(|l| (key(l), l)).collect();
            let mut changes = LinkChanges::default();
            for (k, old) in &had {
                match wanted.get(k) {
                    Some(new) if *new == *old => {}
                    _ => {
                        sqlx::query(
                            "DELETE FROM incident_links \
                             WHERE incident_id = $1 AND repository = $2 AND pr_number = $3",
                        )
                        .bind(old.incident_id.as_str())
                        .bind(repository)
                        .bind(old.pr_number)
                        .execute(&mut *tx)
                        .await?;
                        if !wanted.contains_key(k) {
                            changes.removed.push((*old).clone());
                        }
                    }
                }
            }
            for (k, new) in &wanted {
                if had.get(k) == Some(new) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO incident_links (incident_id, repository, pr_number, reason, \
                     why, deployment_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(new.incident_id.as_str())
                .bind(repository)
                .bind(new.pr_number)
                .bind(new.reason.as_str())
                .bind(new.why.as_str())
                .bind(new.deployment_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                changes.added.push((*new).clone());
            }
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// The links of one repository (or all), by incident then pull request.
    pub async fn incident_links(
        &self,
        repository: Option<&str>,
    ) -> Result<Vec<StoredLink>, StoreError> {
        with_pool!(self, "incident_links", |pool| {
            let rows = sqlx::query(
                "SELECT incident_id, repository, pr_number, reason, why, deployment_id, \
                 created_at FROM incident_links WHERE ($1 IS NULL OR repository = $1) \
                 ORDER BY incident_id, repository, pr_number",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(StoredLink {
                    link: link_from_row!(row),
                    created_at: row.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// The stored links of one incident, in every repository.
    pub async fn links_of_incident(&self, incident_id: &str) -> Result<Vec<Link>, StoreError> {
        with_pool!(self, "links_of_incident", |pool| {
            let rows = sqlx::query(
                "SELECT incident_id, repository, pr_number, reason, why, deployment_id \
                 FROM incident_links WHERE incident_id = $1 ORDER BY repository, pr_number",
            )
            .bind(incident_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(link_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Records that an incident was not caused by a pull request and drops the link;
    /// false when that rejection was recorded before.
    pub async fn reject_incident_link(
        &self,
        rejection: &LinkRejection,
    ) -> Result<bool, StoreError> {
        with_write!(self, "reject_incident_link", |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "INSERT INTO incident_link_rejections (incident_id, repository, pr_number, \
                 rejected_by, note, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(rejection.incident_id.as_str())
            .bind(rejection.repository.as_str())
            .bind(rejection.pr_number)
            .bind(rejection.rejected_by.as_deref())
            .bind(rejection.note.as_deref())
            .bind(rejection.at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM incident_links \
                 WHERE incident_id = $1 AND repository = $2 AND pr_number = $3",
            )
            .bind(rejection.incident_id.as_str())
            .bind(rejection.repository.as_str())
            .bind(rejection.pr_number)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Rejected links of a repository.
    pub async fn link_rejections(
        &self,
        repository: &str,
    ) -> Result<Vec<LinkRejection>, StoreError> {
        with_pool!(self, "link_rejections", |pool| {
            let rows = sqlx::query(
                "SELECT incident_id, repository, pr_number, rejected_by, note, at \
                 FROM incident_link_rejections WHERE repository = $1 ORDER BY at",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(LinkRejection {
                    incident_id: row.try_get("incident_id")?,
                    repository: row.try_get("repository")?,
                    pr_number: row.try_get("pr_number")?,
                    rejected_by: row.try_get("rejected_by")?,
                    note: row.try_get("note")?,
                    at: row.try_get("at")?,
                });
            }
            Ok(out)
        })
    }
}
