-- Latest fetch wins: one row per post_id of the lake, the version fetched last (ties go to the later run_id).
-- The same rule as stg_posts, run directly on the lake files outside the warehouse build (affect scoring, purge).
-- Parameter $posts_glob: the glob of the lake's post files (pipeline.lake.posts_glob).
select *
from read_parquet($posts_glob, hive_partitioning = true, union_by_name = true)
qualify row_number() over (partition by post_id order by fetched_at desc, run_id desc) = 1
