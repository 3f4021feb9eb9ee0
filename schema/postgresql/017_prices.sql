-- Every dimension a response is priced by, and how each computed cost was made: the 1-hour
-- part of the cache writes, web-search requests, the service tier, which price source gave the
-- rates (price_source) and the cost's parts in USD (NULL for a reported or unpriced cost).
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cache_creation_1h_tokens BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS web_search_requests BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS service_tier TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS price_source TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_input_usd DOUBLE PRECISION;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_output_usd DOUBLE PRECISION;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_cache_read_usd DOUBLE PRECISION;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_cache_write_usd DOUBLE PRECISION;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_cache_write_1h_usd DOUBLE PRECISION;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_web_search_usd DOUBLE PRECISION;
