-- grain: one row per finished nightly run (state/runs.jsonl)
-- description: The run log: window, outcome, items written, records quarantined and sources that failed.
-- column run_id: run id, derived from the window
-- column since: window start (UTC)
-- column until: window end, exclusive (UTC)
-- column status: succeeded, partial when a source failed, or failed when nothing was published (Airflow runs)
-- column started_at: when the run started
-- column finished_at: when the run finished
-- column rows: items written to the lake
-- column quarantined: records quarantined
-- column failed_sources: JSON object source -> error message
-- column resumed: whether the run resumed an interrupted one
with

source as (
    select * from src_runs
),

final as (
    select
        run_id,
        since,
        until,
        status,
        started_at,
        finished_at,
        rows,
        quarantined,
        failed_sources,
        coalesce(resumed, false) as resumed
    from source
)

select * from final
