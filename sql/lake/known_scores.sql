-- Scores to reuse: one row per text_hash of the scoring run's candidates (table candidates) that the affect files
-- $files already hold, the one scored last. A post whose text was scored for another post gets a copy.
select *
from read_parquet($files, union_by_name = true, hive_partitioning = false)
where text_hash in (select text_hash from candidates)
qualify row_number() over (partition by text_hash order by scored_at desc) = 1
