-- quarantined records by source and reason: by the ingest runs whose window overlaps [$start, $end), and overall.
-- An ingest run id ends with its window (<since>-<until>); imports carry a label instead and have no week.
with

quarantine as (
    select
        source,
        reason_kind,
        try_strptime(
            regexp_extract(run_id, '(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)$', 1), '%Y%m%dT%H%M%SZ'
        ) as since,
        try_strptime(
            regexp_extract(run_id, '(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)$', 2), '%Y%m%dT%H%M%SZ'
        ) as until
    from stg_quarantine
)

select
    source,
    reason_kind,
    count(*) filter (where since < $end and until > $start) as records_this_week,
    count(*) as records_all_time
from quarantine
group by all
order by records_this_week desc, records_all_time desc, source, reason_kind
