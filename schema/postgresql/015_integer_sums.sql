-- Sums of integers that stay integers, as SQLite's do. PostgreSQL's own SUM(BIGINT) returns
-- NUMERIC: exact, but its state per group is a heap-allocated accumulator, so grouping ~20,000
-- tasks by key took twice as long as with a BIGINT state. The store's SQL says SUM(…); on
-- PostgreSQL every such call runs costlog_sum(…). Over BIGINT it adds with int8pl, which fails
-- ("bigint out of range") where SQLite's SUM fails ("integer overflow"); costlog keeps every sum
-- a read or a write adds together within BIGINT (costlog_totals), so neither ever does. Over
-- the other types it gives what PostgreSQL's own SUM gives (the same transition functions but
-- for NUMERIC, whose plain addition gives the same sum).
-- Not parallel safe: the store's reads are small enough that workers only add start-up time.
CREATE OR REPLACE AGGREGATE costlog_sum(BIGINT) (SFUNC = int8pl, STYPE = BIGINT);
CREATE OR REPLACE AGGREGATE costlog_sum(INTEGER) (SFUNC = int4_sum, STYPE = BIGINT);
CREATE OR REPLACE AGGREGATE costlog_sum(SMALLINT) (SFUNC = int2_sum, STYPE = BIGINT);
CREATE OR REPLACE AGGREGATE costlog_sum(DOUBLE PRECISION) (SFUNC = float8pl,
                                                           STYPE = DOUBLE PRECISION);
CREATE OR REPLACE AGGREGATE costlog_sum(REAL) (SFUNC = float4pl, STYPE = REAL);
CREATE OR REPLACE AGGREGATE costlog_sum(NUMERIC) (SFUNC = numeric_add, STYPE = NUMERIC);
