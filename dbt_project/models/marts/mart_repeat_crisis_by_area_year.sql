{{ config(tags=['published']) }}
-- People in crisis per area and year: everyone with a crisis referral, the episodes that started,
-- people whose first episode started, and people who came back within a year of their last episode.
with episodes as (select *, extract(year from started) as year from {{ ref('int_crisis_episodes') }}),

crisis_people as (
    select area, sent_year as year, count(distinct person_key) as people_in_crisis
    from {{ ref('fct_referrals') }}
    where primary_issue_group = 'crisis'
    group by all
)

select
    e.area,
    e.year,
    c.people_in_crisis,
    count(*) as episodes_started,
    count(distinct e.person_key) filter (where e.is_first) as first_time_people,
    count(distinct e.person_key) filter (where e.is_repeat) as returning_people
from episodes as e
left join crisis_people as c using (area, year)
group by all
