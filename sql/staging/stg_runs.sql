-- grain: one row per run id: its latest entry in the run log (state/runs.jsonl)
-- description: The run log: window, outcome, items written, records quarantined and sources that failed.
-- column run_id: run id, derived from the window
-- column since: window start (UTC)
-- column until: window end, exclusive (UTC)
-- column status: succeeded, partial when a source failed, failed when nothing was published (Airflow runs), or running
--   for the run that is building this warehouse (its entry is written before the build, finished after)
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
    -- a run id appears again when its window is re-run, and once more when a running entry is finished
    qualify row_number() over (
        partition by run_id order by coalesce(finished_at, started_at) desc nulls last, status = 'running'
    ) = 1
)

select * from final
