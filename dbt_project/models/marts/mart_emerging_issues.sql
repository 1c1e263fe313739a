{{ config(tags=['published']) }}
-- Emerging issues: months in which the number of people referred for an issue in an area rises well
-- above the issue's own baseline. People, not referrals, so one person referred again and again is
-- not a rise. The baseline is the issue's usual share of the month's people (its mean share over the
-- 12 months before, at least 6 of them) applied to the month's total, so the network's seasonal swing
-- is in it, times the issue's own seasonal factor (its median excess in the same calendar month of
-- earlier years, once there are two, kept within 0.67-1.5). A month is flagged when it is at least
-- 30%, 4 people and 4% of the month's people above the baseline, and either 5 Poisson standard
-- deviations above it, or 3 with the month before or after at least 1.5 above too (a rise that
-- persists: single-month blips are common, since people's referrals cluster). On the test worlds these
-- thresholds find every planted rise of a few percent of the area's volume with at most one false alarm
-- per area and year (tests/test_warehouse.py); a rise of a few people a month in a small area can be missed.
with counts as (
    select area, month, primary_issue, sum(referrals)::bigint as referrals, count(*) as people
    from {{ ref('int_person_issue_months') }}
    group by all
),

months as (select area, month, sum(people) as area_people from counts group by all),

issues as (select distinct area, primary_issue from counts),

filled as (
    select m.area, m.month, i.primary_issue, coalesce(c.referrals, 0) as referrals, coalesce(c.people, 0) as people,
           m.area_people, coalesce(c.people, 0) / m.area_people as share
    from months as m
    join issues as i using (area)
    left join counts as c using (area, month, primary_issue)
),

usual as (
    select
        *,
        avg(share) over previous_year as usual_share,
        count(*) over previous_year as months_of_history
    from filled
    window previous_year as (partition by area, primary_issue order by month rows between 12 preceding and 1 preceding)
),

excess as (
    select *, share / nullif(usual_share, 0) as excess_ratio
    from usual
    where months_of_history >= 6
),

seasonal as (
    select
        *,
        median(excess_ratio) over same_month_before as seasonal_median,
        count(excess_ratio) over same_month_before as earlier_years
    from excess
    window same_month_before as (partition by area, primary_issue, month(month) order by month
                                 rows between unbounded preceding and 1 preceding)
),

baselines as (
    select
        *,
        usual_share * area_people
            * case when earlier_years >= 2 then greatest(0.67, least(1.5, seasonal_median)) else 1 end as baseline
    from seasonal
),

scored as (
    select
        *,
        (people - baseline) / sqrt(greatest(baseline, 1)) as z,
        people >= 1.3 * baseline and people - baseline >= greatest(4, 0.04 * area_people) as is_large
    from baselines
),

persisted as (
    select
        *,
        coalesce(lag(z) over issue_months >= 1.5, false) or coalesce(lead(z) over issue_months >= 1.5, false)
            as neighbour_raised
    from scored
    window issue_months as (partition by area, primary_issue order by month)
)

select
    b.area,
    b.month,
    b.primary_issue,
    g.issue_group,
    b.referrals,
    b.people,
    round(b.baseline, 2) as baseline,
    round(b.people - b.baseline, 2) as rise,
    round(b.people / nullif(b.baseline, 0), 3) as rise_ratio,
    round(b.z, 2) as score,
    b.is_large and (b.z >= 5 or (b.z >= 3 and b.neighbour_raised)) as is_flagged
from persisted as b
left join {{ ref('issue_groups') }} as g on g.issue = b.primary_issue
