-- Latest score wins: one row per post_id among the affect files $files (one scorer version's directory), the one
-- scored last. Incremental scoring skips a post whose latest score has the hash of its current text.
select *
from read_parquet($files, union_by_name = true, hive_partitioning = false)
qualify row_number() over (partition by post_id order by scored_at desc) = 1
