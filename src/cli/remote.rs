//! The resource commands (`tenants`, `keys`, `namespaces`, `usage`, `prices`,
//! `plans`, `invoices`) talk to a running server's API with an operator token,
//! so they hold exactly the token's permissions and get the API's checks and
//! audit: `--server` / `KEYWARD_URL` (default http://127.0.0.1:3000) and
//! `KEYWARD_TOKEN` (or `--token`; the environment keeps it out of `ps`).
//! People get tables; `--json` prints the API's answer as it came.

use clap::Args;
use reqwest::Method;
use serde_json::Value;

#[derive(Clone, Args)]
pub(super) struct Server {
    /// The keyward server to call.
    #[arg(
        long = "server",
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    url: String,
    /// An operator token (kwt_...) or the root token; prefer KEYWARD_TOKEN.
    #[arg(long, env = "KEYWARD_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub(super) json: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "..."))
            .field("json", &self.json)
            .finish()
    }
}

impl Server {
    /// Calls the API; the answer's JSON, or the API's error as a message.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let token = self
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or("set KEYWARD_TOKEN to an operator token (or pass --token)")?;
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut req = reqwest::Client::new()
            .request(method, &url)
            .bearer_auth(token)
            .timeout(std::time::Duration::from_secs(60));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(value)
        } else {
            let error = &value["error"];
            Err(match (error["code"].as_str(), error["message"].as_str()) {
                (Some(code), Some(message)) => format!("{status} {code}: {message}"),
                _ => format!("{status}: {value}"),
            })
        }
    }

    /// Prints `value` as JSON, or `rows` (found at `pointer`) as a table.
    pub(super) fn show(&self, value: &Value, pointer: &str, columns: &[(&str, &str)]) {
        if self.json {
            println!("{}", serde_json::to_string(value).unwrap_or_default());
            return;
        }
        let rows: Vec<&Value> = match value.pointer(pointer) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        print_table(&rows, columns);
    }
}

/// A cell: strings bare, null as `-`, lists comma-joined, the rest as JSON.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Columns are (header, JSON pointer within a row).
pub(super) fn print_table(rows: &[&Value], columns: &[(&str, &str)]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, p)| cell(r.pointer(p))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
                .min(48)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{:<w$}", v.chars().take(*w).collect::<String>(), w = *w))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        line(columns.iter().map(|(h, _)| h.to_string()).collect())
    );
    for row in cells {
        println!("{}", line(row));
    }
}

/// `k=v` pairs into a JSON object of strings.
pub(super) fn pairs(values: &[String]) -> Result<Value, String> {
    let mut map = serde_json::Map::new();
    for v in values {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| format!("{v:?}: write labels as key=value"))?;
        map.insert(k.to_string(), Value::String(val.to_string()));
    }
    Ok(Value::Object(map))
}

/// Percent-encodes a query value.
pub(super) fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query string from the given (name, value) pairs, skipping absent ones.
pub(super) fn query(params: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}
