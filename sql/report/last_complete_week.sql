-- the latest ISO week that is complete on some platform (the mart last_complete_week: its end is at or before
-- the end of the lake's coverage); null when no platform has a complete week
select max(week_start) as week_start
from last_complete_week
