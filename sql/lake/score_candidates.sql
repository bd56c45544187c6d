-- Candidates of a scoring run: the posts whose current text (view latest_texts, see candidate_counts.sql) has no
-- score of this scorer version yet (table scored: post_id, text_hash), with the text and its sha256 (text_hash).
select c.post_id, c.text_hash, c.text
from (
    select post_id, sha256(text) as text_hash, text
    from latest_texts
    where not is_gone and text <> ''
) as c
anti join scored as s on s.post_id = c.post_id and s.text_hash = c.text_hash
