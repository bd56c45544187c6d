select platform, min(week_start) as first_week, max(week_start) as last_week from main.int_posts group by platform
