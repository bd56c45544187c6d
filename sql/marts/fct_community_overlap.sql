-- grain: one row per (platform, ISO week, community_a, community_b) with community_a <> community_b and at least
--   overlap.min_shared members in common; every pair appears in both orders
-- description: How much two communities share their members in a week (membership as in int_membership: active
--   in the community in the membership window before the end of the week). Lift and NPMI correct for community
--   size and are the ones to rank by; Jaccard is kept for readability. Formulas in docs/metrics.md.
-- column platform: platform of both communities
-- column week_start: Monday (UTC) of the week; members are counted at the end of the week
-- column iso_week: ISO week, 'YYYY-Www'
-- column community_a: first community
-- column community_b: second community
-- column members_a: members of community_a (|A|)
-- column members_b: members of community_b (|B|)
-- column shared_members: members of both (|A and B|)
-- column active_users: N, users who are members of at least one community of the platform that week
-- column jaccard: |A and B| / |A or B|
-- column overlap_coefficient: |A and B| / min(|A|, |B|)
-- column containment_a_in_b: |A and B| / |A|, the share of community_a's members who are also in community_b
-- column containment_b_in_a: |A and B| / |B|, the share of community_b's members who are also in community_a
-- column lift: |A and B| * N / (|A| * |B|); 1 = as many shared members as chance would give, above 1 = more
-- column npmi: normalized pointwise mutual information ln(lift) / -ln(|A and B| / N), in [-1, 1]; 1 when
--   |A and B| = N
-- column history_days: days of lake coverage of the platform before week_start (from
--   dim_platform_coverage.coverage_start; 0 for weeks before it)
-- column is_warmup: history_days < membership.window_days: the week's membership saw less than a full window, so
--   member counts and shared members are still growing with the history; do not read changes in these weeks
-- column is_complete_week: the week ends (next Monday 00:00 UTC) at or before dim_platform_coverage.coverage_end;
--   false for the running week
with

members as (
    select platform, week_start, community, author_id
    from int_membership
),

community_sizes as (
    select
        platform,
        week_start,
        community,
        count(*) as members
    from members
    group by all
),

active as (
    select
        platform,
        week_start,
        count(distinct author_id) as active_users
    from members
    group by all
),

pairs as (
    select
        a.platform,
        a.week_start,
        a.community as community_a,
        b.community as community_b,
        count(*) as shared_members
    from members as a
    inner join members as b
        on
            b.platform = a.platform
            and b.week_start = a.week_start
            and b.author_id = a.author_id
            and b.community <> a.community
    group by all
    having count(*) >= getvariable('overlap_min_shared')
),

final as (
    select
        p.platform,
        p.week_start,
        strftime(p.week_start, '%G-W%V') as iso_week,
        p.community_a,
        p.community_b,
        sa.members as members_a,
        sb.members as members_b,
        p.shared_members,
        n.active_users,
        p.shared_members / (sa.members + sb.members - p.shared_members) as jaccard,
        p.shared_members / least(sa.members, sb.members) as overlap_coefficient,
        p.shared_members / sa.members as containment_a_in_b,
        p.shared_members / sb.members as containment_b_in_a,
        p.shared_members * n.active_users / (sa.members * sb.members) as lift,
        case
            when p.shared_members = n.active_users then 1.0
            else
                ln(p.shared_members * n.active_users / (sa.members * sb.members))
                / -ln(p.shared_members / n.active_users)
        end as npmi,
        greatest(
            0.0, (epoch(cast(p.week_start as timestamp)) - epoch(cov.coverage_start at time zone 'UTC')) / 86400.0
        ) as history_days,
        history_days < getvariable('membership_window_days') as is_warmup,
        cast(p.week_start as timestamp) + interval 7 day <= cov.coverage_end at time zone 'UTC' as is_complete_week
    from pairs as p
    inner join dim_platform_coverage as cov on cov.platform = p.platform
    inner join community_sizes as sa
        on sa.platform = p.platform and sa.week_start = p.week_start and sa.community = p.community_a
    inner join community_sizes as sb
        on sb.platform = p.platform and sb.week_start = p.week_start and sb.community = p.community_b
    inner join active as n on n.platform = p.platform and n.week_start = p.week_start
)

select * from final
