{{ config(tags=['published']) }}
-- The 12-month repeat rate by cohort (episodes ending in the year), overall and split by whether money
-- or housing advice followed. A cohort is final once its 12-month follow-up lies inside the data (to
-- the end of the month of the latest change seen); otherwise provisional.
with episodes as (select *, extract(year from ended) as cohort_year from {{ ref('int_crisis_episodes') }}),

data_end as (
    select area, last_day(cast(max(changed_at) as date)) as last_day_of_data
    from {{ ref('int_referral_versions') }}
    group by area
),

split as (
    select area, cohort_year, 'all' as advice, repeated_within_365_days from episodes
    union all
    select area, cohort_year, case when followed_by_advice then 'with_advice' else 'without_advice' end,
           repeated_within_365_days
    from episodes
)

select
    s.area,
    s.cohort_year,
    s.advice,
    count(*) as episodes,
    count(*) filter (where s.repeated_within_365_days) as repeated_within_365_days,
    round(count(*) filter (where s.repeated_within_365_days) / count(*), 4) as rate,
    make_date(cast(s.cohort_year as integer), 12, 31) + 365 <= d.last_day_of_data as is_final
from split as s
left join data_end as d using (area)
group by all
