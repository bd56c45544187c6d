-- grain: one row per quarantined record
-- description: Records that failed mapping or validation during ingest, with the reason. The records themselves stay
--   in quarantine/<source>/<run_id>.jsonl; the warehouse keeps only where and why.
-- column source: ripple source that produced the record
-- column run_id: ingest run (source + window, or import label)
-- column reason: why the record was rejected
-- column reason_kind: the reason without its details, for grouping
-- column location: where the record came from (file:line for imports), when known
with

source as (
    select * from src_quarantine
),

final as (
    select
        source,
        run_id,
        reason,
        regexp_replace(regexp_replace(reason, ' \(.*$', ''), ':.*$', '') as reason_kind,
        location
    from source
)

select * from final
