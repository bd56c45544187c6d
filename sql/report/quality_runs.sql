-- the nightly runs whose window overlaps [$start, $end)
select run_id, since, until, status, started_at, finished_at, rows, quarantined, failed_sources, resumed
from stg_runs
where cast(since as timestamptz) < $end and cast(until as timestamptz) > $start
order by since, run_id
