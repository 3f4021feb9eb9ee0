-- The live rows stored without a price, by project: the dashboard's queue panel counts them for
-- the chosen project. A partial index holds only those rows, so the count reads no others and
-- costs the writes nothing for priced rows.
CREATE INDEX IF NOT EXISTS idx_cost_unpriced ON cost_log(project_id)
    WHERE cost_source = 'unpriced' AND voided_at IS NULL;
