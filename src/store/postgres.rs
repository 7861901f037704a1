//! The PostgreSQL store: several `serve` replicas (and the command line) on one database.
//!
//! - **Driver**: `tokio-postgres` with a `deadpool-postgres` pool; every statement is prepared
//!   once per connection (`prepare_cached`). TLS is rustls (the server's certificate is always
//!   verified, against the system's roots and `[store] ssl_root_cert`).
//! - **Schema**: the files in `migrations/postgres/`, applied at start in `[store] schema` under a
//!   session advisory lock (replicas that start together wait for the first), each recorded with
//!   its checksum in `schema_migrations`. [`PostgresStore::ready`] (the `/readyz` check) fails
//!   until every migration of this build is there.
//! - **Compare-and-swap**: the same conditional writes as SQLite (`UPDATE ... WHERE version = $n`,
//!   `INSERT ... ON CONFLICT DO NOTHING`, a lease is one conditional upsert), which under READ
//!   COMMITTED re-check the condition on the row a concurrent writer just committed: of two
//!   replicas exactly one wins. Ledger appends lock the one `audit_head` row, so the chain is
//!   serialised across every process; it is always the last lock a transaction takes, so two
//!   writers never wait for each other in a cycle.
//! - **Wake-ups**: a transaction that leaves a request approved or writes outbox entries sends a
//!   `NOTIFY` on the schema's channel (delivered when it commits); [`PostgresStore::listen`]
//!   turns the other processes' notifications into [`Wakeup`]s, so another replica's worker and
//!   dispatcher start at once instead of at their next poll (which stays as the fallback).
//! - **Times** are `timestamptz` (microseconds); queries that select by time read the boundary
//!   microsecond whole and decide it by the body's exact time, as the SQLite store does with its
//!   milliseconds.
//!
//! The connection's password never appears in a log or an error: it comes from the secret
//! source (`POSTGRES_PASSWORD`) or `PGPASSWORD`, and [`PostgresStore::target`] names the
//! database without it.

use super::{Change, Committed, Conflict, Inserted, OutboxQuery, Store, StoreConfig, StoreError};
use crate::audit::tlog::StoredCheckpoint;
use crate::audit::{self, AuditEntry, AuditRecord};
use crate::domain::{
    Approval, Grant, ImageCatalog, ImageNo, RequestId, RequestState, ShareRequest,
};
use crate::workflow::outbox::{OutboxEntry, OutboxStatus};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The migrations of this build, in order: (version, name, SQL). A migration that has run is
/// never edited (its checksum is checked at every start); a change is a new file.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "0002_image_catalog",
        include_str!("../../migrations/postgres/0002_image_catalog.sql"),
    ),
];

/// The first key of the advisory locks this service takes (the second is the schema's hash), so
/// that they do not collide with another application's on the same database.
const LOCK_CLASS: i32 = 0x4e53_4131; // "NSA1"

/// How long a statement waits for a pooled connection, and a new connection for the server.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Every this many first deliveries, the expired delivery keys are deleted (a key is reused
/// once it expired anyway: the delete only keeps the table small).
const DELIVERY_CLEANUP_EVERY: u64 = 256;

/// What another process's committed write asks of this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// A request is approved: the worker may execute it.
    Work(RequestId),
    /// Outbox entries were written: the dispatcher may deliver them.
    Outbox,
    /// The listener (re)connected: notifications sent while it was away are lost, so look at
    /// everything once.
    Resync,
}

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    schema: String,
    /// This instance's name in its notifications, so that it ignores its own.
    origin: String,
    deliveries: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target())
            .field("schema", &self.schema)
            .finish()
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::backend("postgres", e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::backend("postgres: no connection", e)
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::backend("postgres: cannot encode a record", e))
}

fn from_json<T: serde::de::DeserializeOwned>(key: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn inserted(changed: u64) -> Inserted {
    if changed == 1 {
        Inserted::New
    } else {
        Inserted::AlreadyThere
    }
}

/// Whether `schema` is a plain lower-case identifier (it is written into SQL and into the
/// connection's options unquoted-safe).
pub fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 48
}

/// Whether the server's certificate is checked (libpq's `sslmode` decides, see [`Tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Against the system's roots and `ssl_root_cert`, with the host name (`verify-ca`,
    /// `verify-full`, or `require` / `prefer` with `ssl_root_cert` set, as libpq does with a
    /// root certificate file).
    Full,
    /// Encrypted, the certificate not checked (`require` and `prefer` without a root
    /// certificate: libpq's behaviour, for servers with a self-signed certificate).
    EncryptOnly,
}

/// libpq's `sslmode` in the URL (`sslmode=...` in either form), if any.
fn sslmode_of(url: &str) -> Option<String> {
    let at = url.find("sslmode=")?;
    let rest = &url[at + "sslmode=".len()..];
    let end = rest.find(['&', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The connection settings: `url` (a `postgres://` URL or `key=value` pairs; empty for none),
/// then the `PG*` environment variables for what it leaves out, then `password`; and whether
/// the certificate is verified (`has_root`: `ssl_root_cert` is set).
fn connection_config(
    url: &str,
    password: Option<&SecretString>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    has_root: bool,
) -> Result<(tokio_postgres::Config, Verify), StoreError> {
    use tokio_postgres::config::SslMode;
    let mode = sslmode_of(url).or_else(|| env("PGSSLMODE"));
    // tokio-postgres knows disable, prefer and require; verification is ours to decide.
    let (ssl, verify) = match mode.as_deref() {
        None | Some("prefer" | "allow") => (SslMode::Prefer, has_root),
        Some("disable") => (SslMode::Disable, false),
        Some("require") => (SslMode::Require, has_root),
        Some("verify-ca" | "verify-full") => (SslMode::Require, true),
        Some(other) => {
            return Err(StoreError::Failed(format!(
                "sslmode {other:?} (store.url or PGSSLMODE) is not one of disable, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    let url = match &mode {
        Some(m) if url.contains("sslmode=") => {
            url.replace(&format!("sslmode={m}"), "sslmode=disable")
        }
        _ => url.to_string(),
    };
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        StoreError::backend(
            "store.url is not a PostgreSQL connection string (postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full)",
            e,
        )
    })?;
    pg.ssl_mode(ssl);
    if pg.get_hosts().is_empty() {
        pg.host(env("PGHOST").as_deref().unwrap_or("localhost"));
    }
    if pg.get_ports().is_empty()
        && let Some(port) = env("PGPORT")
    {
        let port = port
            .parse()
            .map_err(|_| StoreError::Failed(format!("PGPORT is not a port number: {port:?}")))?;
        pg.port(port);
    }
    if pg.get_user().is_none() {
        match env("PGUSER") {
            Some(user) => pg.user(&user),
            None => pg.user("postgres"),
        };
    }
    if pg.get_dbname().is_none()
        && let Some(db) = env("PGDATABASE")
    {
        pg.dbname(&db);
    }
    // The secret wins over a password in the URL; PGPASSWORD is the last resort.
    if let Some(p) = password.filter(|p| !p.expose_secret().is_empty()) {
        pg.password(p.expose_secret());
    } else if pg.get_password().is_none()
        && let Some(p) = env("PGPASSWORD")
    {
        pg.password(p);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("ncp-share-approver");
    }
    pg.connect_timeout(POOL_WAIT);
    let verify = if verify {
        Verify::Full
    } else {
        Verify::EncryptOnly
    };
    Ok((pg, verify))
}

/// The rustls configuration: with [`Verify::Full`], the system's roots and `extra_root` (a PEM
/// file, such as the CA certificate NCP Cloud DB for PostgreSQL offers for download).
fn tls_config(
    verify: Verify,
    extra_root: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::backend("postgres: TLS", e))?;
    if verify == Verify::EncryptOnly {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot parse is skipped, as every rustls client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_root {
        use rustls_pki_types::pem::PemObject as _;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                StoreError::backend(
                    format!("store.ssl_root_cert: cannot read {}", path.display()),
                    e,
                )
            })?;
        if certs.is_empty() {
            return Err(StoreError::Failed(format!(
                "store.ssl_root_cert: no certificate in {}",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                StoreError::backend(format!("store.ssl_root_cert: {}", path.display()), e)
            })?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// libpq's `sslmode=require` without a root certificate: the session is encrypted and the
/// handshake's signatures are checked against the certificate the server shows, but who issued
/// that certificate is not (a self-signed server certificate works, as with `psql`).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl PostgresStore {
    /// Connects with `[store]` (`url`, `schema`, `pool_size`, `ssl_root_cert`) and `password`
    /// (the `POSTGRES_PASSWORD` secret, when set), and brings the schema up to date.
    pub async fn connect(
        config: &StoreConfig,
        password: Option<SecretString>,
    ) -> Result<Self, StoreError> {
        Self::connect_with_env(config, password, &|k| std::env::var(k).ok()).await
    }

    /// [`PostgresStore::connect`] with the environment given (tests).
    pub async fn connect_with_env(
        config: &StoreConfig,
        password: Option<SecretString>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Self, StoreError> {
        if !valid_schema(&config.schema) {
            return Err(StoreError::Failed(format!(
                "store.schema {:?} must be a lower-case identifier (letters, digits, _)",
                config.schema
            )));
        }
        let (mut pg, verify) = connection_config(
            &config.url,
            password.as_ref(),
            env,
            config.ssl_root_cert.is_some(),
        )?;
        // Every connection works in the configured schema (after any options the URL gives,
        // such as `options=-c synchronous_commit=off`).
        let search_path = format!("-c search_path={}", config.schema);
        let options = match pg.get_options().map(str::trim) {
            Some(given) if !given.is_empty() => format!("{given} {search_path}"),
            _ => search_path,
        };
        pg.options(options);
        let tls = MakeRustlsConnect::new(tls_config(verify, config.ssl_root_cert.as_deref())?);
        let manager = Manager::from_config(
            pg.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::backend("postgres: pool", e))?;
        let store = Self {
            pool,
            pg,
            tls,
            schema: config.schema.clone(),
            origin: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            deliveries: Arc::new(AtomicU64::new(0)),
        };
        store.migrate().await.map_err(|e| match e {
            StoreError::Backend { context, source } => StoreError::Backend {
                context: format!("{context} ({})", store.target()),
                source,
            },
            other => other,
        })?;
        Ok(store)
    }

    /// `user@host:port/database, schema S`: where the store is, never with the password.
    pub fn target(&self) -> String {
        let host = match self.pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.pg.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}, schema {}",
            self.pg.get_user().unwrap_or("?"),
            self.pg
                .get_dbname()
                .unwrap_or(self.pg.get_user().unwrap_or("?")),
            self.schema
        )
    }

    /// The schema's notification channel.
    fn channel(&self) -> String {
        format!("nsa_{}", self.schema)
    }

    /// Applies the migrations this build has and the database lacks, under the schema's advisory
    /// lock: replicas starting together wait here, and find the work done.
    async fn migrate(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "SELECT pg_advisory_lock($1, hashtext($2))",
                &[&LOCK_CLASS, &self.schema],
            )
            .await?;
        let result = self.migrate_locked(&client).await;
        // The lock is the session's: it goes with the connection if the unlock fails.
        let unlocked = client
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&LOCK_CLASS, &self.schema],
            )
            .await;
        result?;
        unlocked?;
        Ok(())
    }

    async fn migrate_locked(&self, client: &deadpool_postgres::Object) -> Result<(), StoreError> {
        let exists = client
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&self.schema],
            )
            .await?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE SCHEMA {}", self.schema))
                .await?;
        }
        // Looked up first: `CREATE TABLE IF NOT EXISTS` would say NOTICE at every start.
        let has_table = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await?
            .get::<_, bool>(0);
        if !has_table {
            client
                .batch_execute(
                    "CREATE TABLE schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )",
                )
                .await?;
        }
        let applied: Vec<(i32, String, String)> = client
            .query("SELECT version, name, checksum FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for (version, name, sql) in MIGRATIONS {
            let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
            match applied.iter().find(|(v, _, _)| v == version) {
                Some((_, _, stored)) if *stored == checksum => continue,
                Some((_, stored_name, _)) => {
                    return Err(StoreError::Failed(format!(
                        "migration {stored_name} in the database differs from {name} of this build: a migration that has run must never be edited"
                    )));
                }
                None => {}
            }
            // Each migration in its own transaction with its record: all of it, or none.
            client.batch_execute("BEGIN").await?;
            let step = async {
                client.batch_execute(sql).await?;
                client
                    .execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        &[version, name, &checksum],
                    )
                    .await?;
                client.batch_execute("COMMIT").await
            }
            .await;
            if let Err(e) = step {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(StoreError::backend(
                    format!("postgres: migration {name}"),
                    e,
                ));
            }
            tracing::info!(migration = name, schema = %self.schema, "PostgreSQL schema migrated");
        }
        let newest = applied.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
        let ours = MIGRATIONS.last().map(|(v, _, _)| *v).unwrap_or(0);
        if newest > ours {
            tracing::warn!(
                database = newest,
                build = ours,
                "the PostgreSQL schema is newer than this build (a newer replica migrated it); running on it"
            );
        }
        Ok(())
    }

    /// Whether this store's connections are encrypted (the server's `pg_stat_ssl` for one of
    /// them); logged at start.
    pub async fn tls_in_use(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
    }

    /// Whether the store answers and holds every migration of this build (`/readyz`).
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let versions: Vec<i32> = client
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let missing: Vec<&str> = MIGRATIONS
            .iter()
            .filter(|(v, _, _)| !versions.contains(v))
            .map(|(_, name, _)| *name)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Failed(format!(
                "the PostgreSQL schema lacks migration {}",
                missing.join(", ")
            )))
        }
    }

    /// Listens for the other processes' notifications on the schema's channel. Returns once
    /// `LISTEN` is in place (so that nothing committed after this returns is missed); the
    /// listener then reconnects by itself until `stop` turns true, and says [`Wakeup::Resync`]
    /// after every reconnection.
    pub async fn listen(
        &self,
        stop: watch::Receiver<bool>,
    ) -> Result<(mpsc::UnboundedReceiver<Wakeup>, tokio::task::JoinHandle<()>), StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let first = self.listen_once(tx.clone()).await?;
        let me = self.clone();
        let task = tokio::spawn(async move {
            let mut stop = stop;
            let mut current = first;
            let mut pause = Duration::from_millis(100);
            loop {
                tokio::select! {
                    _ = stop.changed() => { current.abort(); return; }
                    _ = &mut current => {}
                }
                if *stop.borrow() {
                    return;
                }
                tracing::warn!(store = %me.target(), "the PostgreSQL notification connection ended; reconnecting (the polls cover the gap)");
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    match me.listen_once(tx.clone()).await {
                        Ok(task) => {
                            current = task;
                            pause = Duration::from_millis(100);
                            let _ = tx.send(Wakeup::Resync);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot listen for PostgreSQL notifications yet");
                            pause = (pause * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
        });
        Ok((rx, task))
    }

    /// One notification connection: `LISTEN`s, then forwards until the connection ends.
    async fn listen_once(
        &self,
        tx: mpsc::UnboundedSender<Wakeup>,
    ) -> Result<tokio::task::JoinHandle<()>, StoreError> {
        let (client, mut connection) = self.pg.connect(self.tls.clone()).await?;
        let origin = self.origin.clone();
        let driver = tokio::spawn(async move {
            // The client stays alive as long as the connection is driven.
            let _client_keeps_the_session = ();
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if let Some(w) = parse_wakeup(n.payload(), &origin)
                            && tx.send(w).is_err()
                        {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "PostgreSQL notification connection failed");
                        return;
                    }
                    None => return,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {}", self.channel()))
            .await?;
        // The client must outlive the LISTEN: it is moved into a task that ends with the driver.
        Ok(tokio::spawn(async move {
            let _client = client;
            let _ = driver.await;
        }))
    }

    /// Sends `payload` on the schema's channel in the transaction (or session) of `client`:
    /// delivered to the listeners when it commits.
    async fn notify<C: GenericClient>(
        &self,
        client: &C,
        payload: String,
    ) -> Result<(), StoreError> {
        client
            .execute("SELECT pg_notify($1, $2)", &[&self.channel(), &payload])
            .await?;
        Ok(())
    }

    async fn notify_if_approved<C: GenericClient>(
        &self,
        client: &C,
        request: &ShareRequest,
    ) -> Result<(), StoreError> {
        if request.state == RequestState::Approved {
            self.notify(client, format!("work {} {}", self.origin, request.id))
                .await?;
        }
        Ok(())
    }

    /// Runs `sql` (columns: a key, then a JSON body) and decodes every body; a body that does not
    /// decode is a [`StoreError::Corrupt`] record named `{label}{key}`.
    async fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        label: &str,
    ) -> Result<Vec<T>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(sql).await?;
        client
            .query(&stmt, params)
            .await?
            .iter()
            .map(|row| {
                let key: String = row.get(0);
                let body: String = row.get(1);
                from_json(&format!("{label}{key}"), &body)
            })
            .collect()
    }

    /// Runs one write statement; returns how many rows it changed.
    async fn write(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(sql).await?;
        Ok(client.execute(&stmt, params).await?)
    }
}

/// `work <origin> <id>` or `outbox <origin>` from another origin than `me`.
fn parse_wakeup(payload: &str, me: &str) -> Option<Wakeup> {
    let mut parts = payload.split(' ');
    let kind = parts.next()?;
    let origin = parts.next()?;
    if origin == me {
        return None;
    }
    match kind {
        "work" => RequestId::parse(parts.next()?).ok().map(Wakeup::Work),
        "outbox" => Some(Wakeup::Outbox),
        _ => None,
    }
}

const INSERT_REQUEST: &str = "INSERT INTO requests (id, version, state, image_no, created_at, expires_at, body) VALUES ($1, 1, $2, $3, $4, $5, $6::text::json) ON CONFLICT (id) DO NOTHING";
const UPDATE_REQUEST: &str = "UPDATE requests SET version = $1, state = $2, body = $3::text::json, expires_at = $4 WHERE id = $5 AND version = $6";
const INSERT_APPROVAL: &str = "INSERT INTO approvals (request_id, person, at, body) VALUES ($1, $2, $3, $4::text::json) ON CONFLICT (request_id, person) DO NOTHING";
const INSERT_GRANT: &str = "INSERT INTO grants (image_no, target, request_id, ended, ends_at, body) VALUES ($1, $2, $3, $4, $5, $6::text::json) ON CONFLICT (image_no, target, request_id) DO NOTHING";
/// A delivery id: new, or reused once the earlier one expired.
const FIRST_DELIVERY: &str = "INSERT INTO deliveries (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE deliveries.expires_at <= $3";
/// Outbox entries, one array per column.
const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, ord, lane, request_id, status, next_at, body) SELECT id, ord, lane, request_id, status, next_at, body::json FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[]) AS t(id, ord, lane, request_id, status, next_at, body)";

/// A request's row values, as `INSERT_REQUEST` and `UPDATE_REQUEST` write them.
struct RequestRow {
    body: String,
    request: ShareRequest,
}

impl RequestRow {
    fn new(request: ShareRequest) -> Result<Self, StoreError> {
        Ok(Self {
            body: to_json(&request)?,
            request,
        })
    }

    async fn insert<C: GenericClient>(&self, c: &C) -> Result<u64, StoreError> {
        let r = &self.request;
        let stmt = c.prepare_cached(INSERT_REQUEST).await?;
        Ok(c.execute(
            &stmt,
            &[
                &r.id.as_str(),
                &r.state.as_str(),
                &r.image_no.as_str(),
                &r.created_at,
                &r.expires_at,
                &self.body,
            ],
        )
        .await?)
    }

    /// The compare-and-swap: `self.request` carries the new version, `expected` the stored one.
    async fn update<C: GenericClient>(&self, c: &C, expected: u64) -> Result<u64, StoreError> {
        let r = &self.request;
        let stmt = c.prepare_cached(UPDATE_REQUEST).await?;
        Ok(c.execute(
            &stmt,
            &[
                &(r.version as i64),
                &r.state.as_str(),
                &self.body,
                &r.expires_at,
                &r.id.as_str(),
                &(expected as i64),
            ],
        )
        .await?)
    }
}

/// Chains `entries` onto the ledger head inside an open transaction, in two round trips
/// whatever their number: the head is read and locked, then the records and the new head are
/// written by one statement. The head row's lock serialises appends across every connection and
/// process and is held until the transaction ends, so callers take it last.
async fn append_in(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let head = tx
        .query_one(
            "SELECT seq, hash FROM audit_head WHERE one = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let (mut seq, mut hash): (i64, String) = (head.get(0), head.get(1));
    let mut records = Vec::with_capacity(entries.len());
    let (mut seqs, mut ids, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    for entry in entries {
        let prev = (seq > 0).then_some((seq as u64, hash.as_str()));
        let record = audit::chain(prev, entry);
        seq = record.seq as i64;
        hash = record.hash.clone();
        seqs.push(seq);
        ids.push(record.entry.request_id.clone());
        bodies.push(to_json(&record)?);
        records.push(record);
    }
    let write = tx
        .prepare_cached(
            "WITH written AS (
                INSERT INTO audit (seq, request_id, body)
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
             )
             UPDATE audit_head SET seq = $4, hash = $5 WHERE one = 1",
        )
        .await?;
    tx.execute(&write, &[&seqs, &ids, &bodies, &seq, &hash])
        .await?;
    Ok(records)
}

/// Writes outbox entries in one statement (one array per column).
async fn insert_outbox(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: &[(String, &OutboxEntry)],
) -> Result<(), StoreError> {
    let text = |f: fn(&OutboxEntry) -> &str| entries.iter().map(|(_, e)| f(e)).collect::<Vec<_>>();
    let (ids, orders, lanes, statuses) = (
        text(|e| &e.id),
        text(|e| &e.order),
        text(|e| &e.lane),
        text(|e| e.status.as_str()),
    );
    let requests: Vec<Option<&str>> = entries
        .iter()
        .map(|(_, e)| e.request_id.as_ref().map(|r| r.as_str()))
        .collect();
    let next: Vec<DateTime<Utc>> = entries.iter().map(|(_, e)| e.next_at).collect();
    let bodies: Vec<&str> = entries.iter().map(|(b, _)| b.as_str()).collect();
    let stmt = tx.prepare_cached(INSERT_OUTBOX).await?;
    tx.execute(
        &stmt,
        &[&ids, &orders, &lanes, &requests, &statuses, &next, &bodies],
    )
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn insert_request(&self, request: &ShareRequest) -> Result<Inserted, StoreError> {
        let mut r = request.clone();
        r.version = 1;
        let row = RequestRow::new(r)?;
        let client = self.pool.get().await?;
        let n = row.insert(&client).await?;
        if n == 1 {
            self.notify_if_approved(&client, &row.request).await?;
        }
        Ok(inserted(n))
    }

    async fn request(&self, id: &RequestId) -> Result<Option<ShareRequest>, StoreError> {
        Ok(self
            .decoded(
                "SELECT id, body::text FROM requests WHERE id = $1",
                &[&id.as_str()],
                "",
            )
            .await?
            .into_iter()
            .next())
    }

    async fn update_request(
        &self,
        request: &ShareRequest,
    ) -> Result<Option<ShareRequest>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let row = RequestRow::new(next)?;
        let client = self.pool.get().await?;
        if row.update(&client, expected).await? != 1 {
            return Ok(None);
        }
        self.notify_if_approved(&client, &row.request).await?;
        Ok(Some(row.request))
    }

    async fn update_request_audited(
        &self,
        request: &ShareRequest,
        entry: AuditEntry,
    ) -> Result<Option<(ShareRequest, AuditRecord)>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let row = RequestRow::new(next)?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if row.update(&tx, expected).await? != 1 {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(None);
        }
        self.notify_if_approved(&tx, &row.request).await?;
        let record = append_in(&tx, vec![entry]).await?.remove(0);
        tx.commit().await?;
        Ok(Some((row.request, record)))
    }

    async fn requests(
        &self,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        let limit = limit as i64;
        match state {
            Some(s) => {
                self.decoded(
                    "SELECT id, body::text FROM requests WHERE state = $1 ORDER BY created_at DESC, id LIMIT $2",
                    &[&s.as_str(), &limit],
                    "",
                )
                .await
            }
            None => {
                self.decoded(
                    "SELECT id, body::text FROM requests ORDER BY created_at DESC, id LIMIT $1",
                    &[&limit],
                    "",
                )
                .await
            }
        }
    }

    async fn pending_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        // A range of the partial index `requests_due`, a page at a time. The bound is `now`
        // in whole microseconds, so the last one may hold deadlines just after `now`.
        let stmt = client
            .prepare_cached("SELECT id, expires_at, body::text FROM requests WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2")
            .await?;
        let mut rows: Vec<(String, DateTime<Utc>, String)> = client
            .query(&stmt, &[&now, &(limit as i64)])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        // A full page may be cut inside its last microsecond by id rather than by the exact
        // deadline: that microsecond is read whole (a handful of rows at most).
        if rows.len() == limit
            && let Some(last) = rows.last().map(|r| r.1)
        {
            let stmt = client
                .prepare_cached("SELECT id, expires_at, body::text FROM requests WHERE state = 'pending' AND expires_at = $1")
                .await?;
            let seen: std::collections::HashSet<String> =
                rows.iter().map(|(id, _, _)| id.clone()).collect();
            let rest: Vec<(String, DateTime<Utc>, String)> = client
                .query(&stmt, &[&last])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .filter(|(id, _, _)| !seen.contains(id))
                .collect();
            rows.extend(rest);
        }
        let mut due = rows
            .into_iter()
            .map(|(id, _, body)| from_json::<ShareRequest>(&id, &body))
            .collect::<Result<Vec<_>, _>>()?;
        due.retain(|r| r.state == RequestState::Pending && r.expires_at <= now);
        due.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
        due.truncate(limit);
        Ok(due)
    }

    async fn insert_approval(&self, approval: &Approval) -> Result<Inserted, StoreError> {
        let body = to_json(approval)?;
        let n = self
            .write(
                INSERT_APPROVAL,
                &[
                    &approval.request_id.as_str(),
                    &approval.person.as_str(),
                    &approval.at,
                    &body,
                ],
            )
            .await?;
        Ok(inserted(n))
    }

    async fn approvals(&self, id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        self.decoded(
            "SELECT request_id, body::text FROM approvals WHERE request_id = $1 ORDER BY at, person",
            &[&id.as_str()],
            "",
        )
        .await
    }

    async fn insert_grant(&self, grant: &Grant) -> Result<Inserted, StoreError> {
        let body = to_json(grant)?;
        let n = self
            .write(
                INSERT_GRANT,
                &[
                    &grant.image_no.as_str(),
                    &grant.target.as_str(),
                    &grant.request_id.as_str(),
                    &grant.ended_at.is_some(),
                    &grant.ends_at,
                    &body,
                ],
            )
            .await?;
        Ok(inserted(n))
    }

    async fn active_grants(&self, image: &ImageNo) -> Result<Vec<Grant>, StoreError> {
        self.decoded(
            "SELECT image_no, body::text FROM grants WHERE image_no = $1 AND NOT ended ORDER BY target, request_id",
            &[&image.as_str()],
            "",
        )
        .await
    }

    async fn grants_ending_by(&self, until: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        // A range of the partial index `grants_due`: only the due rows are read.
        let mut grants: Vec<Grant> = self
            .decoded(
                "SELECT image_no, body::text FROM grants WHERE NOT ended AND ends_at IS NOT NULL AND ends_at <= $1 ORDER BY ends_at",
                &[&until],
                "",
            )
            .await?;
        // The bound is in whole microseconds; the last one may hold grants a few nanoseconds
        // past `until`, and ties within a microsecond are ordered by the exact time.
        grants.retain(|g| g.ended_at.is_none() && g.ends_at.is_some_and(|end| end <= until));
        grants.sort_by(|a, b| {
            (
                a.ends_at,
                a.image_no.as_str(),
                a.target.as_str(),
                a.request_id.as_str(),
            )
                .cmp(&(
                    b.ends_at,
                    b.image_no.as_str(),
                    b.target.as_str(),
                    b.request_id.as_str(),
                ))
        });
        Ok(grants)
    }

    async fn end_grant(&self, grant: &Grant, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let key: [&(dyn ToSql + Sync); 3] = [
            &grant.image_no.as_str(),
            &grant.target.as_str(),
            &grant.request_id.as_str(),
        ];
        let row = tx
            .query_opt(
                "SELECT body::text FROM grants WHERE image_no = $1 AND target = $2 AND request_id = $3 AND NOT ended FOR UPDATE",
                &key,
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut stored: Grant = from_json(grant.image_no.as_str(), &row.get::<_, String>(0))?;
        stored.ended_at = Some(at);
        let body = to_json(&stored)?;
        let n = tx
            .execute(
                "UPDATE grants SET ended = true, body = $4::text::json WHERE image_no = $1 AND target = $2 AND request_id = $3 AND NOT ended",
                &[key[0], key[1], key[2], &body],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        // One conditional upsert: a concurrent taker waits for the row and re-checks the
        // condition on what the first one committed, so exactly one of them gets it.
        let n = self
            .write(
                "INSERT INTO leases (key, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
                &[&key, &holder, &until, &now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.write(
            "DELETE FROM leases WHERE key = $1 AND holder = $2",
            &[&key, &holder],
        )
        .await?;
        Ok(())
    }

    async fn first_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        let n = self.write(FIRST_DELIVERY, &[&key, &until, &now]).await?;
        if self.deliveries.fetch_add(1, Ordering::Relaxed) % DELIVERY_CLEANUP_EVERY == 0 {
            self.write("DELETE FROM deliveries WHERE expires_at <= $1", &[&now])
                .await?;
        }
        Ok(n == 1)
    }

    async fn save_message_ref(
        &self,
        id: &RequestId,
        kind: &str,
        reference: &str,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO message_refs (request_id, kind, reference) VALUES ($1, $2, $3)
             ON CONFLICT (request_id, kind) DO UPDATE SET reference = excluded.reference",
            &[&id.as_str(), &kind, &reference],
        )
        .await?;
        Ok(())
    }

    async fn message_ref(&self, id: &RequestId, kind: &str) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT reference FROM message_refs WHERE request_id = $1 AND kind = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&id.as_str(), &kind])
            .await?
            .map(|r| r.get(0)))
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let record = append_in(&tx, vec![entry]).await?.remove(0);
        tx.commit().await?;
        Ok(record)
    }

    async fn audit_records(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT seq, body FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2")
            .await?;
        client
            .query(&stmt, &[&(after as i64), &(limit as i64)])
            .await?
            .iter()
            .map(|r| from_json(&format!("audit {}", r.get::<_, i64>(0)), r.get(1)))
            .collect()
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT seq, hash FROM audit_head WHERE one = 1")
            .await?;
        Ok(client.query_opt(&stmt, &[]).await?.and_then(|r| {
            let seq: i64 = r.get(0);
            // The row is there from the start (it is what appends lock); seq 0 is an empty ledger.
            (seq > 0).then(|| (seq as u64, r.get(1)))
        }))
    }

    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT seq, body FROM audit WHERE request_id = $1 ORDER BY seq")
            .await?;
        client
            .query(&stmt, &[&id.as_str()])
            .await?
            .iter()
            .map(|r| from_json(&format!("audit {}", r.get::<_, i64>(0)), r.get(1)))
            .collect()
    }

    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        let insert = match &change.insert {
            Some(r) => {
                let mut r = r.clone();
                r.version = 1;
                Some(RequestRow::new(r)?)
            }
            None => None,
        };
        let update = match &change.update {
            Some(r) => {
                let mut next = r.clone();
                next.version = r.version + 1;
                Some((RequestRow::new(next)?, r.version))
            }
            None => None,
        };
        let approval = match &change.approval {
            Some(a) => Some((to_json(a)?, a)),
            None => None,
        };
        let outbox = change
            .outbox
            .iter()
            .map(|e| Ok((to_json(e)?, e)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Every early return drops the transaction, which rolls it back: nothing is written.
        if let Some(d) = &change.delivery {
            let stmt = tx.prepare_cached(FIRST_DELIVERY).await?;
            if tx.execute(&stmt, &[&d.key, &d.until, &d.now]).await? != 1 {
                return Ok(Committed::Conflict(Conflict::Delivery));
            }
        }
        if let Some(row) = &insert {
            if row.insert(&tx).await? != 1 {
                return Ok(Committed::Conflict(Conflict::Request));
            }
            self.notify_if_approved(&tx, &row.request).await?;
        }
        if let Some((row, expected)) = &update {
            if row.update(&tx, *expected).await? != 1 {
                return Ok(Committed::Conflict(Conflict::Request));
            }
            self.notify_if_approved(&tx, &row.request).await?;
        }
        if let Some((body, a)) = &approval {
            let stmt = tx.prepare_cached(INSERT_APPROVAL).await?;
            let n = tx
                .execute(
                    &stmt,
                    &[&a.request_id.as_str(), &a.person.as_str(), &a.at, body],
                )
                .await?;
            if n != 1 {
                return Ok(Committed::Conflict(Conflict::Approval));
            }
        }
        if !outbox.is_empty() {
            insert_outbox(&tx, &outbox).await?;
            self.notify(&tx, format!("outbox {}", self.origin)).await?;
        }
        // The ledger's head is locked last, after every condition held and everything else is
        // written: appends wait for each other only for the append itself and the commit.
        let records = append_in(&tx, change.audit).await?;
        tx.commit().await?;
        Ok(Committed::Done(records))
    }

    async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut due: Vec<OutboxEntry> = self
            .decoded(
                "SELECT id, body::text FROM outbox WHERE status = 'pending' AND next_at <= $1 ORDER BY ord LIMIT $2",
                &[&now, &(limit as i64)],
                "outbox ",
            )
            .await?;
        // The bound is in whole microseconds: an entry due a few nanoseconds after `now` waits.
        due.retain(|e| e.next_at <= now);
        Ok(due)
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let body = to_json(entry)?;
        self.write(
            "UPDATE outbox SET status = $2, next_at = $3, body = $4::text::json WHERE id = $1",
            &[&entry.id, &entry.status.as_str(), &entry.next_at, &body],
        )
        .await?;
        Ok(())
    }

    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self
            .decoded(
                "SELECT id, body::text FROM outbox WHERE id = $1",
                &[&id],
                "outbox ",
            )
            .await?
            .into_iter()
            .next())
    }

    async fn outbox(&self, query: OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        self.decoded(
            "SELECT id, body::text FROM outbox WHERE ($1::text IS NULL OR request_id = $1) AND ($2::text IS NULL OR status = $2) ORDER BY ord LIMIT $3",
            &[
                &query.request.as_ref().map(|r| r.as_str()),
                &query.status.map(OutboxStatus::as_str),
                &(query.limit as i64),
            ],
            "outbox ",
        )
        .await
    }

    async fn outbox_oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // `ord` starts with the creation time, and the pending entries are an index range
        // in `ord` order: one row read.
        let oldest = self
            .outbox(OutboxQuery {
                request: None,
                status: Some(OutboxStatus::Pending),
                limit: 1,
            })
            .await?;
        Ok(oldest.first().map(|e| e.created_at))
    }

    async fn outbox_pending_count(&self) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM outbox WHERE status = 'pending'")
            .await?;
        let n: i64 = client.query_one(&stmt, &[]).await?.get(0);
        Ok(n as usize)
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<Inserted, StoreError> {
        let body = to_json(checkpoint)?;
        let n = self
            .write(
                "INSERT INTO checkpoints (size, body) VALUES ($1, $2::text::json) ON CONFLICT (size) DO NOTHING",
                &[&(checkpoint.size as i64), &body],
            )
            .await?;
        Ok(inserted(n))
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self
            .decoded(
                "SELECT size::text AS key, body::text FROM checkpoints ORDER BY checkpoints.size DESC LIMIT 1",
                &[],
                "checkpoint ",
            )
            .await?
            .into_iter()
            .next())
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.decoded(
            "SELECT size::text AS key, body::text FROM checkpoints ORDER BY checkpoints.size",
            &[],
            "checkpoint ",
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.check_ready().await
    }

    async fn save_image_catalog(&self, catalog: &ImageCatalog) -> Result<(), StoreError> {
        let body = to_json(catalog)?;
        // An older list (a refresh that started first and finished last) changes nothing.
        self.write(
            "INSERT INTO image_catalog (one, refreshed_at, body) VALUES (1, $1, $2::text::json) \
             ON CONFLICT (one) DO UPDATE SET refreshed_at = excluded.refreshed_at, body = excluded.body \
             WHERE excluded.refreshed_at >= image_catalog.refreshed_at",
            &[&catalog.refreshed_at, &body],
        )
        .await?;
        Ok(())
    }

    async fn image_catalog(&self) -> Result<Option<ImageCatalog>, StoreError> {
        Ok(self
            .decoded(
                "SELECT 'catalog' AS key, body::text FROM image_catalog WHERE one = 1",
                &[],
                "image ",
            )
            .await?
            .into_iter()
            .next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_url_comes_first_then_the_pg_variables_and_the_secret_wins_for_the_password() {
        let env = env_of(&[
            ("PGHOST", "db.internal"),
            ("PGPORT", "6432"),
            ("PGUSER", "approver"),
            ("PGDATABASE", "shares"),
            ("PGPASSWORD", "from-env"),
        ]);
        let (pg, verify) = connection_config("", None, &env, false).unwrap();
        assert_eq!(verify, Verify::EncryptOnly);
        assert_eq!(pg.get_ssl_mode(), tokio_postgres::config::SslMode::Prefer);
        assert_eq!(
            pg.get_hosts(),
            [tokio_postgres::config::Host::Tcp("db.internal".into())]
        );
        assert_eq!(pg.get_ports(), [6432]);
        assert_eq!(pg.get_user(), Some("approver"));
        assert_eq!(pg.get_dbname(), Some("shares"));
        assert_eq!(pg.get_password(), Some(&b"from-env"[..]));

        let secret = SecretString::from("from-secret".to_string());
        let (pg, verify) = connection_config(
            "postgres://svc:in-url@pg.example:5433/app?sslmode=verify-full",
            Some(&secret),
            &env,
            false,
        )
        .unwrap();
        assert_eq!(verify, Verify::Full);
        assert_eq!(
            pg.get_hosts(),
            [tokio_postgres::config::Host::Tcp("pg.example".into())]
        );
        assert_eq!(pg.get_ports(), [5433]);
        assert_eq!(pg.get_user(), Some("svc"));
        assert_eq!(pg.get_dbname(), Some("app"));
        assert_eq!(pg.get_password(), Some(&b"from-secret"[..]));
        assert_eq!(
            pg.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require,
            "verify-full: TLS is required, and the certificate verified"
        );
        // Without the secret, the URL's password stands before PGPASSWORD.
        let (pg, _) =
            connection_config("postgres://svc:in-url@pg.example/app", None, &env, false).unwrap();
        assert_eq!(pg.get_password(), Some(&b"in-url"[..]));
        assert_eq!(pg.get_application_name(), Some("ncp-share-approver"));
    }

    #[test]
    fn sslmode_decides_tls_and_verification_as_libpq_does() {
        use tokio_postgres::config::SslMode;
        let none = env_of(&[]);
        let case = |url: &str, env: &(dyn Fn(&str) -> Option<String> + Sync), root: bool| {
            let (pg, verify) = connection_config(url, None, env, root).unwrap();
            (pg.get_ssl_mode(), verify)
        };
        assert_eq!(
            case("host=h", &none, false),
            (SslMode::Prefer, Verify::EncryptOnly)
        );
        assert_eq!(case("host=h", &none, true), (SslMode::Prefer, Verify::Full));
        assert_eq!(
            case("host=h sslmode=require", &none, false),
            (SslMode::Require, Verify::EncryptOnly)
        );
        assert_eq!(
            case("postgres://h/db?sslmode=require", &none, true),
            (SslMode::Require, Verify::Full)
        );
        assert_eq!(
            case(
                "postgres://h/db?sslmode=verify-ca&application_name=x",
                &none,
                false
            ),
            (SslMode::Require, Verify::Full)
        );
        assert_eq!(
            case("postgres://h/db?sslmode=disable", &none, true).0,
            SslMode::Disable
        );
        // PGSSLMODE applies when the URL has none.
        let env = env_of(&[("PGSSLMODE", "verify-full")]);
        assert_eq!(
            case("host=h", &env, false),
            (SslMode::Require, Verify::Full)
        );
        assert_eq!(
            case("host=h sslmode=disable", &env, false).0,
            SslMode::Disable
        );
        let e = connection_config(
            "host=h",
            None,
            &env_of(&[("PGSSLMODE", "sometimes")]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sslmode \"sometimes\""), "{e}");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let e = connection_config(
            "postgres://svc:hunter2@pg.example/app?port=notaport",
            None,
            &env_of(&[]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("store.url is not a PostgreSQL connection string"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["public", "ncp_share_approver", "t_0a1b", "_x"] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in [
            "",
            "Public",
            "1abc",
            "a-b",
            "a;drop",
            "a b",
            &"x".repeat(49),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[test]
    fn notifications_from_this_process_are_ignored_and_others_are_read() {
        assert_eq!(
            parse_wakeup("work other SR-0000ABCD", "me"),
            Some(Wakeup::Work(RequestId::parse("SR-0000ABCD").unwrap()))
        );
        assert_eq!(parse_wakeup("outbox other", "me"), Some(Wakeup::Outbox));
        assert_eq!(parse_wakeup("work me SR-0000ABCD", "me"), None);
        assert_eq!(parse_wakeup("outbox me", "me"), None);
        assert_eq!(parse_wakeup("work other not-an-id", "me"), None);
        assert_eq!(parse_wakeup("something else", "me"), None);
        assert_eq!(parse_wakeup("", "me"), None);
    }

    #[test]
    fn the_migrations_are_numbered_in_order_from_one() {
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i32 + 1);
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
            assert!(!sql.trim().is_empty());
        }
    }
}
