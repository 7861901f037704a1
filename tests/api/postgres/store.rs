//! The PostgreSQL store's own duties: migrations under the advisory lock, a migration edited
//! after it ran refused, `/readyz` on a schema that lacks one, TLS verified or refused.

use crate::harness::postgres::{CA_VAR, postgres_url, store_config, unique_schema};
use crate::harness::spawn_app;
use ncp_share_approver::store::postgres::MIGRATIONS;
use ncp_share_approver::store::{PostgresStore, Store};

/// A plain session on the test database in `schema`, for looking behind the store's back.
async fn session(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_the_schema_once() {
    let Some(url) = postgres_url("migrations under the advisory lock") else {
        return;
    };
    let schema = unique_schema();
    let config = store_config(&url, &schema);
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let config = config.clone();
        starts.spawn(async move { PostgresStore::connect(&config, None).await });
    }
    while let Some(done) = starts.join_next().await {
        done.unwrap().expect("every replica starts");
    }
    let db = session(&url, &schema).await;
    let rows = db
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let applied: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(i32, String)> = MIGRATIONS
        .iter()
        .map(|(v, n, _)| (*v, n.to_string()))
        .collect();
    assert_eq!(applied, expected);
    let heads: i64 = db
        .query_one("SELECT count(*) FROM audit_head", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(heads, 1, "the first migration's one head row");
    // Starting again changes nothing.
    let again = PostgresStore::connect(&config, None).await.unwrap();
    again.ready().await.unwrap();
    assert_eq!(again.audit_head().await.unwrap(), None, "an empty ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migration_edited_after_it_ran_stops_the_start() {
    let Some(url) = postgres_url("an edited migration") else {
        return;
    };
    let schema = unique_schema();
    let config = store_config(&url, &schema);
    PostgresStore::connect(&config, None).await.unwrap();
    session(&url, &schema)
        .await
        .execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let e = PostgresStore::connect(&config, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("migration 0001_init in the database differs from 0001_init of this build"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_is_200_on_a_migrated_store_and_503_with_the_reason_otherwise() {
    let Some(url) = postgres_url("/readyz") else {
        return;
    };
    let schema = unique_schema();
    let t = spawn_app()
        .configure({
            let (url, schema) = (url.clone(), schema.clone());
            move |c| c.store = store_config(&url, &schema)
        })
        .start()
        .await;
    let http = reqwest::Client::new();
    let ready = || async {
        let res = http.get(format!("{}/readyz", t.base)).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(ready().await, (200, serde_json::json!({"ready": true})));
    // A database whose schema lost a migration (restored from an older backup, say).
    session(&url, &schema)
        .await
        .execute("DELETE FROM schema_migrations WHERE version = 1", &[])
        .await
        .unwrap();
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["ready"], false);
    assert_eq!(
        body["reason"],
        "the PostgreSQL schema lacks migration 0001_init"
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no address: {body}"
    );
    // Liveness is another question: the process is alive.
    let live = http
        .get(format!("{}/healthz", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_as_soon_as_the_process_stops() {
    // On the default store (SQLite, or what TEST_STORE names): stopping is the process's own.
    let t = spawn_app().start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/readyz", t.base);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    t.app
        .state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["reason"],
        "stopping: this instance finishes its work and takes no more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_configured_ca_and_refused_without_it() {
    let Some(url) = postgres_url("TLS to PostgreSQL") else {
        return;
    };
    let Ok(ca) = std::env::var(CA_VAR) else {
        // CI sets it with the URL (.ci/postgres.sh); a database of one's own may have no TLS.
        assert!(
            std::env::var_os("CI").is_none(),
            "{CA_VAR} is not set under CI"
        );
        eprintln!("SKIPPED TLS to PostgreSQL: {CA_VAR} is not set");
        return;
    };
    let with = |mode: &str, root: Option<&str>| {
        let mut c = store_config(&format!("{url}?sslmode={mode}"), &unique_schema());
        c.ssl_root_cert = root.map(Into::into);
        c
    };
    // verify-full with the server's CA: encrypted and verified.
    let store = PostgresStore::connect(&with("verify-full", Some(&ca)), None)
        .await
        .unwrap();
    assert!(store.tls_in_use().await.unwrap());
    // verify-full with the system's roots only: the test CA is unknown, so no connection.
    let e = PostgresStore::connect(&with("verify-full", None), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("UnknownIssuer"), "{e}");
    // require without a CA: encrypted, the certificate not checked (libpq's require).
    let store = PostgresStore::connect(&with("require", None), None)
        .await
        .unwrap();
    assert!(store.tls_in_use().await.unwrap());
    // disable: in the clear.
    let store = PostgresStore::connect(&with("disable", None), None)
        .await
        .unwrap();
    assert!(!store.tls_in_use().await.unwrap());
    // No connection string ever shows the password in an error.
    let password = reqwest::Url::parse(&url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned));
    if let Some(p) = password {
        assert!(!e.contains(&p), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_the_server_ends_are_made_again_and_the_listener_comes_back() {
    use ncp_share_approver::store::{Change, Wakeup};
    use ncp_share_approver::workflow::outbox::{Message, OutboxEntry, WorksTo};
    use std::time::Duration;
    let Some(url) = postgres_url("reconnecting to PostgreSQL") else {
        return;
    };
    let schema = unique_schema();
    // Its own application name, so that its sessions can be told from every other test's.
    let config = store_config(&format!("{url}?application_name={schema}"), &schema);
    let store = PostgresStore::connect(&config, None).await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let (mut wakeups, _listener) = store.listen(stopped).await.unwrap();
    store.ready().await.unwrap();
    // The server ends every session of this store (a failover, a restart, an idle timeout).
    let admin = session(&url, "public").await;
    let ended: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended >= 2, "the pool's session and the listener's: {ended}");
    // The next call that finds its pooled session dead fails, and the one after works again.
    let mut failures = 0;
    while store.ready().await.is_err() {
        failures += 1;
        assert!(failures <= 2, "the store did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The listener reconnects by itself, says that notifications may have been missed, and
    // hears the other processes again.
    let resync = tokio::time::timeout(Duration::from_secs(10), wakeups.recv())
        .await
        .expect("the listener came back");
    assert_eq!(resync, Some(Wakeup::Resync));
    let other = PostgresStore::connect(&store_config(&url, &schema), None)
        .await
        .unwrap();
    other
        .commit(Change {
            outbox: vec![OutboxEntry::new(
                Message::WorksSay {
                    to: WorksTo::User("u".into()),
                    text: "hello".into(),
                },
                chrono::Utc::now(),
                1,
                0,
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), wakeups.recv())
        .await
        .expect("a notification after the reconnection");
    assert_eq!(heard, Some(Wakeup::Outbox));
}
