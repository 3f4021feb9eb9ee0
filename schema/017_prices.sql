-- Every dimension a response is priced by, and how each computed cost was made: the 1-hour
-- part of the cache writes, web-search requests, the service tier, which price source gave the
-- rates (price_source) and the cost's parts in USD (NULL for a reported or unpriced cost).
ALTER TABLE cost_log ADD COLUMN cache_creation_1h_tokens INTEGER DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN web_search_requests INTEGER DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN service_tier TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN price_source TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN cost_input_usd REAL;
ALTER TABLE cost_log ADD COLUMN cost_output_usd REAL;
ALTER TABLE cost_log ADD COLUMN cost_cache_read_usd REAL;
ALTER TABLE cost_log ADD COLUMN cost_cache_write_usd REAL;
ALTER TABLE cost_log ADD COLUMN cost_cache_write_1h_usd REAL;
ALTER TABLE cost_log ADD COLUMN cost_web_search_usd REAL;
