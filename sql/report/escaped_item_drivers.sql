-- the three features that pushed each escaped root of the week $week most towards escaping (fct_item_drivers)
select d.root_id, d.feature, d.contribution, d.rank
from fct_item_drivers as d
inner join fct_item_spread as s on s.root_id = d.root_id
where s.iso_week = $week and s.escaped and d.rank <= 3
order by d.root_id, d.rank, d.feature
