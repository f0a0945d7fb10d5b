//! The stockd binary refuses a bad tokens file before it starts, with exit code 64 (EX_USAGE)
//! like any other bad configuration, and a message that names the file and the fix.

use std::{
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Command, Output},
};

use stockd::auth::tokens::hash_token;

/// A tokens file of the test's own, removed when dropped.
struct TokensFile(PathBuf);

impl TokensFile {
    fn new(name: &str, text: &str, mode: u32) -> TokensFile {
        let path = std::env::temp_dir().join(format!("stockd-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        TokensFile(path)
    }
}

impl Drop for TokensFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `stockd serve` with `path` as its tokens file; nothing is listening on the database port,
/// so only a process that got past its configuration would try to reach it.
fn serve_with_tokens_file(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stockd"))
        .arg("serve")
        .env("DATABASE_URL", "postgres://stockd@127.0.0.1:1/stockd")
        .env("STOCKD_GRPC_ADDR", "127.0.0.1:0")
        .env("STOCKD_AUTH_TOKENS_FILE", path)
        .env_remove("STOCKD_AUTH_DISABLED")
        .output()
        .expect("run stockd")
}

fn assert_usage_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

fn valid_line() -> String {
    format!("{} admin name=ops\n", hash_token("t-ops"))
}

#[test]
fn a_malformed_tokens_file_exits_64_naming_the_line() {
    let file = TokensFile::new("malformed", "not-a-hash admin\n", 0o600);
    assert_usage_error(&serve_with_tokens_file(&file.0), "line 1");
}

#[test]
fn a_tokens_file_without_a_token_exits_64() {
    let file = TokensFile::new("empty", "# nobody yet\n\n", 0o600);
    assert_usage_error(&serve_with_tokens_file(&file.0), "no token line");
}

#[test]
fn a_missing_tokens_file_exits_64() {
    let path = std::env::temp_dir().join(format!("stockd-{}-absent", std::process::id()));
    assert_usage_error(&serve_with_tokens_file(&path), "tokens file");
}

#[test]
fn a_tokens_file_others_may_read_or_change_exits_64_saying_how_to_fix_it() {
    for (name, mode) in [("world-readable", 0o644), ("group-writable", 0o620)] {
        let file = TokensFile::new(name, &valid_line(), mode);
        let output = serve_with_tokens_file(&file.0);
        assert_usage_error(&output, &format!("mode {mode:04o}"));
        assert_usage_error(&output, "chmod 600");
    }
}
