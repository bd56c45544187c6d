-- structural virality lies between the star's 2(n-1)/n and the chain's (n+1)/3 (the extremes over trees of n
-- nodes), and is null exactly for single-item cascades; the Wiener index lies between (n-1)^2 and n(n^2-1)/6
select root_id, size, wiener_index, structural_virality
from fct_cascades
where
    (size = 1) <> (structural_virality is null)
    or structural_virality < 2.0 * (size - 1) / size - 1e-9
    or structural_virality > (size + 1) / 3.0 + 1e-9
    or wiener_index < (size - 1) * (size - 1)
    or wiener_index > size * (size * size - 1) / 6
