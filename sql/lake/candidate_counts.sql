-- What a scoring run leaves out, counted over the latest version of every post (view latest_texts: post_id,
-- is_gone, and text, the text scoring reads, '' when there is none): posts gone upstream, posts without text, and
-- posts with text (the candidates of sql/lake/score_candidates.sql are among these).
select
    count(*) filter (where is_gone) as gone,
    count(*) filter (where not is_gone and text = '') as blank,
    count(*) filter (where not is_gone and text <> '') as with_text
from latest_texts
