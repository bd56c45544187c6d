-- Latest fetch wins, for the posts of the new posts files only: one row per post that has a row in $new_files,
-- the version fetched last over every posts file of the lake ($posts_files; the rule of latest_posts.sql), and
-- only when that version is in one of the new files. A post whose latest fetch is in a file an earlier scoring run
-- considered was a candidate of that run (docs/affect.md, "What a run considers"). Only post_id, fetched_at and
-- run_id are read from the other files.
with

new_ids as (
    select distinct post_id
    from read_parquet($new_files, hive_partitioning = true, union_by_name = true)
),

latest as (
    select post_id, filename, fetched_at, run_id
    from read_parquet($posts_files, filename = true, hive_partitioning = true, union_by_name = true)
    where post_id in (select post_id from new_ids)
    qualify row_number() over (partition by post_id order by fetched_at desc, run_id desc) = 1
)

select p.*
from read_parquet($new_files, filename = true, hive_partitioning = true, union_by_name = true) as p
semi join latest as l
    on
        p.post_id = l.post_id
        and p.filename = l.filename
        and p.fetched_at = l.fetched_at
        and p.run_id = l.run_id
qualify row_number() over (partition by p.post_id order by p.fetched_at desc, p.run_id desc) = 1
