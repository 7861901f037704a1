-- The request form's image catalog (issue 15): one row, NCP's shareable images as the worker
-- last read them. `refreshed_at` decides which of two racing refreshes stays: an older list
-- never replaces a newer one.

CREATE TABLE image_catalog (
    one smallint PRIMARY KEY CHECK (one = 1),
    refreshed_at timestamptz NOT NULL,
    body json NOT NULL
);
