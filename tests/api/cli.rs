//! The binary as a process: zero-configuration start, migrate, bad config.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// Starts `keyward` in `dir` with no configuration but a free port, and
/// returns the child with every stdout line up to "listening on".
// The child is returned to the caller, which always passes it to `stop`.
#[allow(clippy::zombie_processes)]
fn start(dir: &std::path::Path) -> (Child, Vec<String>, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYWARD_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not report listening: {lines:?}");
        }
        let line = line.trim_end().to_string();
        if let Some(url) = line.strip_prefix("keyward listening on ") {
            let url = url.to_string();
            lines.push(line);
            return (child, lines, url);
        }
        lines.push(line);
    }
}

fn stop(mut child: Child) {
    send_sigterm(child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    panic!("server did not stop on SIGTERM");
}

fn send_sigterm(pid: u32) {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
}

#[tokio::test]
async fn zero_configuration_start_creates_data_dir_wal_database_and_a_root_token_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, lines, url) = start(dir.path());
    let data = dir.path().join("data");
    let token = std::fs::read_to_string(data.join("root_token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        lines.iter().any(|l| l.contains(&token)),
        "token printed on first run: {lines:?}"
    );
    let mode = std::fs::metadata(data.join("root_token"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(data.join("keyward.db").exists());
    assert!(
        data.join("keyward.db-wal").exists(),
        "SQLite runs in WAL mode"
    );

    let client = reqwest::Client::new();
    let res = client
        .get(format!("{url}/api/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    stop(child);

    let (child, lines, _) = start(dir.path());
    assert!(
        !lines.iter().any(|l| l.contains(&token)),
        "token not printed again: {lines:?}"
    );
    stop(child);
}

#[test]
fn migrate_creates_and_migrates_the_database_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env("KEYWARD_DATA_DIR", dir.path().join("d"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("d/keyward.db").exists());
    let again = Command::new(BIN)
        .arg("migrate")
        .env("KEYWARD_DATA_DIR", dir.path().join("d"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(again.status.success(), "migrate is idempotent");
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let out = Command::new(BIN)
        .env("KEYWARD_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KEYWARD_ADDR"), "{err}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("migrate"), "{text}");
}

/// `keyward migrate` in `dir` with only `env` set.
fn migrate_in(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .arg("migrate")
        .output()
        .expect("binary runs")
}

#[test]
fn keyward_toml_is_a_layer_between_the_defaults_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keyward.toml"),
        "# keyward's settings\ndata_dir = \"from-file\"\ncache_memory_mb = 64\n",
    )
    .unwrap();
    let owner_only = |name: &str| {
        let path = dir.path().join(name);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    };
    owner_only("keyward.toml");
    // The file over the defaults.
    let out = migrate_in(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("from-file/keyward.db").exists());
    // The environment over the file.
    let out = migrate_in(dir.path(), &[("KEYWARD_DATA_DIR", "from-env")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("from-env/keyward.db").exists());
    // KEYWARD_CONFIG names another file, which must exist.
    std::fs::write(dir.path().join("other.toml"), "data_dir = \"other\"\n").unwrap();
    owner_only("other.toml");
    let out = migrate_in(dir.path(), &[("KEYWARD_CONFIG", "other.toml")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("other/keyward.db").exists());
    let out = migrate_in(dir.path(), &[("KEYWARD_CONFIG", "missing.toml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEYWARD_CONFIG: missing.toml"));
    // A bad value in the file is named like a bad variable; a typo is refused.
    std::fs::write(
        dir.path().join("keyward.toml"),
        "cache_memory_mb = \"lots\"\n",
    )
    .unwrap();
    let out = migrate_in(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEYWARD_CACHE_MEMORY_MB"));
    std::fs::write(dir.path().join("keyward.toml"), "cache_memory = 64\n").unwrap();
    let out = migrate_in(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keyward.toml") && err.contains("unknown setting `cache_memory`"),
        "{err}"
    );
}

/// The resource commands over a running server's API, with an operator token.
/// (Several workers: the CLI runs as a blocking child process while this
/// runtime serves its requests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_resource_commands_drive_the_api_with_an_operator_token() {
    use crate::helpers::s;
    use reqwest::Method;
    let app = crate::helpers::spawn_app().await;
    let (status, made) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(serde_json::json!({"name": "cli", "permissions":
                ["tenants:read", "tenants:write", "keys:read", "keys:write", "usage:write",
                 "analytics:read", "billing:read", "billing:write"]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let token = s(&made["token"]).to_string();
    let env = [
        ("KEYWARD_URL", app.base.as_str()),
        ("KEYWARD_TOKEN", token.as_str()),
    ];
    let run = async |args: &[&str]| {
        let out = app.cli_with_env(args, &env).await;
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Every group parses (clap checks its definitions when one is used).
    for group in [
        "tenants",
        "keys",
        "namespaces",
        "usage",
        "prices",
        "plans",
        "invoices",
        "secrets",
        "tokens",
    ] {
        let (ok, out, err) = run(&[group, "--help"]).await;
        assert!(ok, "{group} --help: {err}");
        assert!(out.contains("Usage"), "{out}");
    }

    let (ok, out, err) = run(&[
        "keys",
        "provision",
        "--tenant",
        "acme",
        "--integration",
        "files",
        "--project",
        "jt",
        "--tier",
        "pro",
        "--name",
        "uploads",
        "--json",
    ])
    .await;
    assert!(ok, "{err}");
    let provisioned: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key_id = s(&provisioned["key_id"]).to_string();
    let key = s(&provisioned["api_key"]).to_string();

    let (ok, table, _) = run(&["tenants", "list"]).await;
    assert!(ok);
    assert!(
        table.starts_with("ID") && table.contains("acme") && table.contains("pro"),
        "{table}"
    );
    let (ok, _, err) = run(&["tenants", "update", "acme", "--plan", "enterprise"]).await;
    assert!(ok, "{err}");
    let (ok, _, _) = run(&["tenants", "suspend", "acme"]).await;
    assert!(ok);
    assert_eq!(app.verify_code(&key, None).await, "DISABLED");
    let (ok, _, _) = run(&["tenants", "resume", "acme"]).await;
    assert!(ok);
    assert_eq!(app.verify_code(&key, None).await, "VALID");

    let (ok, out, err) = run(&[
        "keys",
        "update",
        &key_id,
        "--rate-limit",
        "500",
        "--label",
        "team=files",
        "--json",
    ])
    .await;
    assert!(ok, "{err}");
    let updated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(updated["rate_limit"], 500);
    assert_eq!(updated["metadata"]["team"], "files");
    let (ok, table, _) = run(&["keys", "list", "--tenant", "acme"]).await;
    assert!(
        ok && table.contains(&key_id) && table.contains("uploads"),
        "{table}"
    );

    let (ok, _, err) = run(&["namespaces", "create", "jt_acme_eu", "--tenant", "acme"]).await;
    assert!(ok, "{err}");
    let (_, table, _) = run(&["namespaces", "list", "--tenant", "acme"]).await;
    assert!(table.contains("jt_acme_eu"), "{table}");
    let (ok, _, _) = run(&["namespaces", "delete", "jt_acme_eu"]).await;
    assert!(ok);
    let (ok, table, _) = run(&["plans", "list"]).await;
    assert!(ok && table.contains("enterprise"), "{table}");
    // The money model's terms: a plan's pricing, the allocation rates.
    let (ok, out, err) = run(&[
        "plans",
        "pricing",
        "pro",
        "--billing-mode",
        "plan_pricing",
        "--monthly-price-micros",
        "30000000",
        "--usage-markup-bps",
        "12000",
        "--effective-from",
        "2026-01-01",
    ])
    .await;
    assert!(
        ok && out.contains("plan_pricing") && out.contains("30000000"),
        "{out}{err}"
    );
    let (ok, out, err) = run(&[
        "plans",
        "rates",
        "--sga-bps",
        "1200",
        "--compliance-bps",
        "500",
        "--json",
    ])
    .await;
    assert!(ok, "{err}");
    let rates: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rates["sga_bps"], 1200);
    let (ok, table, _) = run(&["plans", "terms"]).await;
    assert!(
        ok && table.contains("2026-01-01") && table.contains("1200"),
        "{table}"
    );
    let (ok, _, err) = run(&[
        "plans",
        "rates",
        "--sga-bps",
        "10001",
        "--compliance-bps",
        "0",
    ])
    .await;
    assert!(!ok && err.contains("sga_bps"), "{err}");
    let (ok, table, _) = run(&["prices", "list", "--service", "openai"]).await;
    assert!(ok && table.contains("openai"), "{table}");
    let (ok, _, err) = run(&["invoices", "list"]).await;
    assert!(ok, "{err}");

    // Refusals come back as the API's code, with a failing exit status.
    let (ok, _, err) = run(&["tenants", "erase", "acme", "--confirm", "acme2"]).await;
    assert!(!ok && err.contains("--confirm"), "{err}");
    let (ok, _, err) = run(&["keys", "revoke", "key_00000000000000000000000000000000"]).await;
    assert!(!ok && err.contains("KEY_NOT_FOUND"), "{err}");
    let reader = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(serde_json::json!({"name": "reader", "permissions": ["tenants:read"]})),
        )
        .await
        .1;
    let out = app
        .cli_with_env(
            &["keys", "list"],
            &[
                ("KEYWARD_URL", app.base.as_str()),
                ("KEYWARD_TOKEN", s(&reader["token"])),
            ],
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PERMISSION_DENIED"));

    let (ok, _, _) = run(&["keys", "revoke", &key_id]).await;
    assert!(ok);
    assert_eq!(app.verify_code(&key, None).await, "REVOKED");
    let (ok, out, err) = run(&["tenants", "erase", "acme", "--confirm", "acme"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("erased"), "{out}");
    let (status, _) = app.root_json(Method::GET, "/api/tenants/acme", None).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
}
