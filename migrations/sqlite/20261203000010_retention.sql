-- Retention: the pruning queries find old rows by time without scanning whole tables,
-- and a delivery's jobs by its id.
CREATE INDEX deliveries_by_received_at ON deliveries (received_at);
CREATE INDEX jobs_by_delivery ON jobs (delivery_id);
CREATE INDEX jobs_by_status_updated ON jobs (status, updated_at);
