-- items per UTC day and platform from $start to $end
select
    cast(created_at at time zone 'UTC' as date) as date,
    platform,
    count(*) as items
from int_posts
where created_at >= $start and created_at < $end
group by all
order by date, platform
