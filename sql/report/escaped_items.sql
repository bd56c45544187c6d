-- the roots of the week $week that escaped their origin community, with their text, how fast their cascade grew
-- and the affect of their text; most outsiders reached first. url: the mart's permalink, else the platform URL of
-- stg_posts (Bluesky, Mastodon); is_warmup / history_days: the membership behind the escape flag saw less than a
-- full window (fct_item_spread)
select
    s.root_id,
    s.platform,
    s.origin_community,
    s.root_created_at,
    s.size,
    s.depth,
    s.engagers,
    s.outsider_engagers,
    s.outsider_share,
    s.communities_reached,
    s.community_entropy,
    s.is_warmup,
    s.history_days,
    s.text_snippet as mart_snippet,
    s.dominant_emotion,
    s.minutes_to_first_outsider,
    p.title,
    p.text,
    coalesce(s.permalink, p.url) as url,
    p.author_name,
    c.minutes_to_depth_1,
    c.minutes_to_depth_2,
    c.minutes_to_depth_3,
    c.minutes_to_depth_5,
    c.minutes_to_depth_10,
    c.minutes_to_size_10,
    c.minutes_to_size_100,
    c.minutes_to_size_1000,
    a.vader_compound,
    a.tb_polarity,
    a.tb_subjectivity,
    a.arousal,
    a.nrc_anger,
    a.nrc_anticipation,
    a.nrc_disgust,
    a.nrc_fear,
    a.nrc_joy,
    a.nrc_sadness,
    a.nrc_surprise,
    a.nrc_trust
from fct_item_spread as s
left join stg_posts as p on p.post_id = s.root_id
left join fct_cascades as c on c.root_id = s.root_id
left join fct_affect as a on a.post_id = s.root_id
where s.iso_week = $week and s.escaped
order by s.outsider_engagers desc, s.communities_reached desc, s.size desc, s.root_id
