-- latest_scores.sql for the posts of the view latest_texts only (a run that considers the new posts files only):
-- one row per such post among the affect files $files, the one scored last. Only post_id, text_hash and scored_at
-- are read.
select post_id, text_hash
from read_parquet($files, union_by_name = true, hive_partitioning = false)
where post_id in (select post_id from latest_texts)
qualify row_number() over (partition by post_id order by scored_at desc) = 1
