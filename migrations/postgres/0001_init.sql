-- The PostgreSQL store's first schema (src/store/postgres.rs applies it at start, under an
-- advisory lock, in the configured `[store] schema`, and records it in `schema_migrations`).
--
-- Every record is kept whole as JSON in `body` (the `json` type keeps the exact text, so a
-- ledger record reads back byte for byte, and it accepts every string serde writes, `\u0000`
-- included, which `jsonb` refuses); the other columns are the keys and what the queries select
-- and order by. Times are `timestamptz` (microseconds): the store filters and orders the last
-- microsecond by the body's exact time, as the SQLite store does with its milliseconds.
-- A migration that has run is never edited: a change is a new file with the next number.

CREATE TABLE requests (
    id text PRIMARY KEY,
    version bigint NOT NULL,
    state text NOT NULL,
    image_no text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    body json NOT NULL
);
-- `requests list --state`, the worker's approved and executing work: newest first.
CREATE INDEX requests_state ON requests (state, created_at DESC, id);
-- The sweep's pending requests by deadline: only pending ones are in this index.
CREATE INDEX requests_due ON requests (expires_at, id) WHERE state = 'pending';

CREATE TABLE approvals (
    request_id text NOT NULL,
    person text NOT NULL,
    at timestamptz NOT NULL,
    body json NOT NULL,
    PRIMARY KEY (request_id, person)
);

CREATE TABLE grants (
    image_no text NOT NULL,
    target text NOT NULL,
    request_id text NOT NULL,
    ended boolean NOT NULL DEFAULT false,
    -- None for a grant without an end.
    ends_at timestamptz,
    body json NOT NULL,
    PRIMARY KEY (image_no, target, request_id)
);
-- The sweep's grants: only open ones with an end, by end.
CREATE INDEX grants_due ON grants (ends_at) WHERE NOT ended AND ends_at IS NOT NULL;

-- Leases (the worker's `image:<region>:<no>`, the dispatcher's `outbox:<lane>`, the sweep's):
-- taken by one conditional upsert, so that of two replicas exactly one holds a key.
CREATE TABLE leases (
    key text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Delivery ids seen (retried webhooks), until they expire.
CREATE TABLE deliveries (
    key text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX deliveries_expiry ON deliveries (expires_at);

CREATE TABLE message_refs (
    request_id text NOT NULL,
    kind text NOT NULL,
    reference text NOT NULL,
    PRIMARY KEY (request_id, kind)
);

-- The hash-chained ledger. `body` is the record's exact JSON text.
CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    request_id text,
    body text NOT NULL
);
CREATE INDEX audit_request ON audit (request_id, seq);
-- The last (seq, hash) appended, kept apart from the records so that truncation shows. Its one
-- row is locked by every append (`SELECT ... FOR UPDATE`), which serialises appends across
-- every replica; it is there from the start (seq 0: the ledger is empty), so that the first
-- two appends wait for each other too.
CREATE TABLE audit_head (
    one smallint PRIMARY KEY CHECK (one = 1),
    seq bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (one, seq, hash) VALUES (1, 0, '');

-- Messages owed (the outbox).
CREATE TABLE outbox (
    id text PRIMARY KEY,
    ord text NOT NULL,
    lane text NOT NULL,
    request_id text,
    status text NOT NULL,
    next_at timestamptz NOT NULL,
    body json NOT NULL
);
-- The dispatcher's due entries: only pending ones are in this index, in order.
CREATE INDEX outbox_due ON outbox (ord) WHERE status = 'pending';
CREATE INDEX outbox_request ON outbox (request_id, ord);
CREATE INDEX outbox_status ON outbox (status, ord);

-- Signed checkpoints of the ledger, by tree size.
CREATE TABLE checkpoints (
    size bigint PRIMARY KEY,
    body json NOT NULL
);
