//! Errors of the store, and keeping passwords out of them.

use super::Backend;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {url}: expected sqlite://PATH or postgres://HOST/DATABASE")]
    UnsupportedUrl {
        /// The URL without its password.
        url: String,
    },
    #[error("cannot open database {target}: {message}")]
    Connect {
        /// Scheme, user, host and database; never the password.
        target: String,
        message: String,
    },
    #[error("cannot bring the {backend} schema up to date: {source}")]
    Migrate {
        backend: Backend,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("store: {op} failed: {source}")]
    Query {
        /// The store method that failed.
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("store: {op} failed: {source}")]
    Sqlite {
        /// The store method that failed.
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the intake queue is full: {waiting} deliveries are waiting for the database")]
    IntakeFull { waiting: usize },
}

impl StoreError {
    /// The underlying database error, if this is one.
    pub fn database_error(&self) -> Option<&(dyn sqlx::error::DatabaseError + 'static)> {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(e),
                ..
            } => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// `url` with any password and query string removed:
/// `postgres://user:secret@host:5432/db?sslmode=require` →
/// `postgres://user@host:5432/db`. The user part runs to the last `@`: a password written
/// with a `/`, `?`, `#` or `@` unescaped ends there too, however a driver would read it.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:path` or something unknown: no authority, so no password,
        // but a query string could still carry one.
        return url.split('?').next().unwrap_or_default().to_string();
    };
    let without_query = |s: &str| s.split(['?', '#']).next().unwrap_or_default().to_string();
    match rest.rsplit_once('@') {
        Some((userinfo, host_and_path)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            // An `@` past the authority (in the path or query) leaves no user to show.
            let user = if user.contains(['/', '?', '#']) {
                "…"
            } else {
                user
            };
            format!("{scheme}://{user}@{}", without_query(host_and_path))
        }
        None => format!("{scheme}://{}", without_query(rest)),
    }
}

/// The password written in `url`, if any (as written, percent-encoded or not): from the
/// first `:` of the user part to its last `@`.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then_some(password)
}

/// `message` with the password of `url` masked, in case a driver quoted it.
pub(crate) fn scrub_password(message: &str, url: &str) -> String {
    match password_of(url) {
        Some(password) => message.replace(password, "***"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_and_query() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/riskgate?password=x"),
            "postgres://app@db.internal:5432/riskgate"
        );
        assert_eq!(
            redact_url("postgres://db/riskgate"),
            "postgres://db/riskgate"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/riskgate/riskgate.db"),
            "sqlite:///var/lib/riskgate/riskgate.db"
        );
        assert_eq!(redact_url("mysql://u:p@h/d"), "mysql://u@h/d");
    }

    /// A password with characters a URL should escape, written unescaped, is still cut out
    /// whole, and so is one in the query after an `@`.
    #[test]
    fn redacts_a_password_written_unescaped() {
        for (url, shown) in [
            (
                "postgres://app:Ab/cdSECRET@db:5432/riskgate",
                "postgres://app@db:5432/riskgate",
            ),
            (
                "postgres://app:Ab?cdSECRET@db/riskgate",
                "postgres://app@db/riskgate",
            ),
            (
                "postgres://app:Ab#cdSECRET@db/riskgate",
                "postgres://app@db/riskgate",
            ),
            (
                "postgres://app:a@bSECRET@db/riskgate",
                "postgres://app@db/riskgate",
            ),
            (
                "postgres://db/riskgate?password=xSECRET@y",
                "postgres://…@y",
            ),
        ] {
            let redacted = redact_url(url);
            assert_eq!(redacted, shown, "{url}");
            assert!(!redacted.contains("SECRET"), "{redacted}");
        }
        assert_eq!(
            scrub_password(
                "login as Ab/cdSECRET failed",
                "postgres://app:Ab/cdSECRET@db/r"
            ),
            "login as *** failed"
        );
    }

    #[test]
    fn scrubs_a_quoted_password() {
        assert_eq!(
            scrub_password("bad login s3cret", "postgres://app:s3cret@h/d"),
            "bad login ***"
        );
        assert_eq!(scrub_password("fine", "postgres://h/d"), "fine");
    }
}
