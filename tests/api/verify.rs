use crate::helpers::{s, spawn_app};

#[tokio::test]
async fn malformed_keys_are_reported_as_malformed() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key = s(&body["api_key"]).to_string();
    let mut typo = key.clone().into_bytes();
    let last = typo.len() - 3;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        "",
        "hello",
        "ac_files_",
        &key[..key.len() - 1],
        &typo,
        &format!("{key}x"),
        &key.replacen("ac_", "sk_", 1),
        &"x".repeat(5000),
    ] {
        let v = app.verify(bad, None).await;
        assert_eq!(v["code"], "MALFORMED", "{bad:?} gave {v}");
        assert_eq!(v["valid"], false);
        assert_eq!(v["key_id"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn a_well_formed_key_keyward_never_issued_is_not_found() {
    // A key from another installation is well-formed (its checksum holds) but unknown here.
    let other = spawn_app().await;
    let foreign = other.provision_tenant("acme").await;
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let v = app.verify(s(&foreign["api_key"]), None).await;
    assert_eq!(v["code"], "NOT_FOUND");
    assert_eq!(v["valid"], false);
}

#[tokio::test]
async fn verify_without_namespace_checks_the_key_alone() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let v = app.verify(s(&body["api_key"]), None).await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["namespace"], serde_json::Value::Null);
    assert_eq!(v["version"], 1);
}

#[tokio::test]
async fn verification_after_the_first_lookup_is_served_from_memory() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key = s(&body["api_key"]);
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "VALID");

    // With the store gone, only memory can answer.
    app.app_core.db().close().await;
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "VALID");
    // A malformed key never needed the store either.
    assert_eq!(app.verify_code("ac_files_typo", None).await, "MALFORMED");
}

#[tokio::test]
async fn a_burst_of_requests_for_one_uncached_key_makes_one_store_lookup() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key = s(&body["api_key"]).to_string();
    let reads = |v: serde_json::Value| v["key_store_reads"].as_u64().unwrap();
    let (_, before) = app
        .root_json(reqwest::Method::GET, "/api/stats", None)
        .await;

    let burst = (0..64).map(|_| app.verify_code(&key, Some("jt_acme")));
    let codes = futures::future::join_all(burst).await;
    assert!(codes.iter().all(|c| c == "VALID"));

    let (_, after) = app
        .root_json(reqwest::Method::GET, "/api/stats", None)
        .await;
    // One read each for the digest, the key with its tenant, the namespace and its tenant.
    assert_eq!(
        reads(after) - reads(before),
        4,
        "64 concurrent verifications, one load each"
    );
}
