//! The servers a DATABASE_URL names. sqlx reads one host per URL; libpq also takes a list
//! (`postgres://h1:5432,h2:5432/stockd?target_session_attrs=read-write`), which is how HA
//! setups name a primary that may move. The list is split here into one set of sqlx options per
//! host, everything else in the URL shared. Messages describe servers, never credentials.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The query parameter of libpq that says which server of a list to keep.
const TARGET_SESSION_ATTRS: &str = "target_session_attrs";

/// The servers of a DATABASE_URL, in its order.
#[derive(Debug, Clone)]
pub struct Targets {
    /// One set of options per host, each complete (user, database, TLS…).
    pub hosts: Vec<PgConnectOptions>,
    /// Connect only to the server that accepts writes, finding it among `hosts` and following
    /// it when it moves: set by a list of hosts or by `target_session_attrs=read-write`.
    pub find_primary: bool,
}

impl Targets {
    /// Splits `url` into its servers; a single-host URL is parsed by sqlx as it is.
    pub fn parse(url: &str) -> Result<Targets, sqlx::Error> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(Targets {
                hosts: vec![url.parse()?],
                find_primary: false,
            });
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (user, host_list) = match authority.rsplit_once('@') {
            Some((user, hosts)) => (format!("{user}@"), hosts),
            None => (String::new(), authority),
        };
        let (tail, attrs) = without_target_session_attrs(tail);
        let read_write = match attrs.as_deref() {
            None => false,
            Some("read-write" | "primary") => true,
            Some(other) => {
                return Err(config_error(format!(
                    "DATABASE_URL asks for target_session_attrs={other}; stockd writes, so it \
                     needs read-write (or primary)"
                )));
            }
        };
        let names: Vec<&str> = host_list.split(',').collect();
        if names.len() > 1 && names.iter().any(|name| name.is_empty()) {
            return Err(config_error(
                "DATABASE_URL lists an empty host: two commas in a row, or one at an end".into(),
            ));
        }
        let hosts = names
            .iter()
            .map(|host| format!("{scheme}://{user}{host}{tail}").parse())
            .collect::<Result<Vec<PgConnectOptions>, _>>()?;
        Ok(Targets {
            find_primary: read_write || hosts.len() > 1,
            hosts,
        })
    }
}

/// The URL's path and query without `target_session_attrs` (sqlx would only warn that it does
/// not know it), and that parameter's value.
fn without_target_session_attrs(tail: &str) -> (String, Option<String>) {
    let Some((path, query)) = tail.split_once('?') else {
        return (tail.to_owned(), None);
    };
    let mut attrs = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((TARGET_SESSION_ATTRS, value)) => {
                attrs = Some(value.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    if kept.is_empty() {
        (path.to_owned(), attrs)
    } else {
        (format!("{path}?{}", kept.join("&")), attrs)
    }
}

fn config_error(message: String) -> sqlx::Error {
    sqlx::Error::Configuration(message.into())
}

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

    fn servers(url: &str) -> (Vec<String>, bool) {
        let targets = Targets::parse(url).unwrap();
        let described = targets.hosts.iter().map(describe).collect();
        (described, targets.find_primary)
    }

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

    #[test]
    fn one_host_is_one_server_and_any_may_serve() {
        let (hosts, find_primary) = servers("postgres://app:pw@db:5433/stockd?sslmode=require");
        assert_eq!(hosts, ["db:5433/stockd (sslmode require)"]);
        assert!(!find_primary);
    }

    #[test]
    fn a_list_of_hosts_is_a_server_each_sharing_the_rest_of_the_url() {
        let targets = Targets::parse(
            "postgresql://app:p%40ss@pg-a:5432,pg-b,[::1]:6000/stockd?sslmode=verify-full\
             &target_session_attrs=read-write&application_name=x",
        )
        .unwrap();
        let described: Vec<String> = targets.hosts.iter().map(describe).collect();
        assert_eq!(
            described,
            [
                "pg-a:5432/stockd (sslmode verify-full)",
                "pg-b:5432/stockd (sslmode verify-full)",
                "[::1]:6000/stockd (sslmode verify-full)",
            ]
        );
        assert!(targets.find_primary);
        for host in &targets.hosts {
            assert_eq!(host.get_username(), "app");
            assert_eq!(host.get_application_name(), Some("x"));
        }
    }

    #[test]
    fn a_list_looks_for_the_primary_even_without_target_session_attrs() {
        let (hosts, find_primary) = servers("postgres://a,b/stockd");
        assert_eq!(hosts.len(), 2);
        assert!(find_primary);
    }

    #[test]
    fn read_write_on_one_host_keeps_to_the_primary_behind_a_name_that_moves() {
        for attrs in ["read-write", "primary"] {
            let url = format!("postgres://db-rw/stockd?target_session_attrs={attrs}");
            let (hosts, find_primary) = servers(&url);
            assert_eq!(hosts, ["db-rw:5432/stockd (sslmode prefer)"]);
            assert!(find_primary, "{attrs}");
        }
    }

    #[test]
    fn a_session_kind_that_cannot_write_is_refused_without_quoting_the_url() {
        let error = Targets::parse("postgres://u:secret@a,b/stockd?target_session_attrs=standby")
            .unwrap_err()
            .to_string();
        assert!(error.contains("target_session_attrs=standby"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn an_empty_host_in_a_list_is_refused() {
        for url in ["postgres://a,,b/stockd", "postgres://a,/stockd"] {
            let error = Targets::parse(url).unwrap_err().to_string();
            assert!(error.contains("empty host"), "{url}: {error}");
        }
    }

    #[test]
    fn a_socket_url_without_a_host_is_left_to_sqlx() {
        let (hosts, find_primary) = servers("postgres:///stockd?host=/run/postgresql");
        assert_eq!(hosts.len(), 1);
        assert!(!find_primary);
    }
}
