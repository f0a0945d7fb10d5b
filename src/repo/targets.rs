//! Where the pool connects, described for people: logs and startup errors name the server and
//! the TLS mode, never the credentials.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// `host:port/database (sslmode …)` of `options`, for messages.
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{} (sslmode {})",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default(),
        ssl_mode_name(options.get_ssl_mode())
    )
}

/// libpq's name of an sslmode, as DATABASE_URL and PGSSLMODE spell it.
fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_names_the_server_and_tls_mode_but_no_password() {
        let options: PgConnectOptions =
            "postgres://app:s3cret@db.example:6432/stockd?sslmode=verify-full"
                .parse()
                .unwrap();
        let described = describe(&options);
        assert_eq!(described, "db.example:6432/stockd (sslmode verify-full)");
        assert!(!described.contains("s3cret"));
    }
}
