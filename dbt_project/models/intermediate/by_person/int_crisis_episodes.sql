-- Crisis episodes: a person's crisis-group referrals (by primary issue), merged while consecutive
-- referrals are less than 14 days apart. An episode is a repeat when it starts within 365 days of the
-- end of the person's previous episode; it was followed by advice when the person had an accepted
-- money or housing referral sent between its start and 30 days after its end.
-- A table built by person (a person's episodes depend on their referrals only): both repeat-crisis
-- marts read it, and a view would work the episodes out twice.
with referrals as (select area, person_key, sent_at, primary_issue_group, accepted_at from {{ fct_referrals_of_people_to_build() }}),

crisis as (
    select area, person_key, cast(sent_at as date) as sent_day
    from referrals
    where primary_issue_group = 'crisis'
),

marked as (
    select
        *,
        case when sent_day - lag(sent_day) over person_days >= 14
                  or lag(sent_day) over person_days is null then 1 else 0 end as starts_episode
    from crisis
    window person_days as (partition by area, person_key order by sent_day)
),

numbered as (
    select *, sum(starts_episode) over (partition by area, person_key order by sent_day
                                       rows unbounded preceding) as episode_number
    from marked
),

episodes as (
    select area, person_key, episode_number, min(sent_day) as started, max(sent_day) as ended
    from numbered
    group by all
),

advice as (
    select area, person_key, cast(sent_at as date) as sent_day
    from referrals
    where primary_issue_group in ('money', 'housing') and accepted_at is not null
)

select
    e.area,
    e.person_key,
    e.episode_number,
    e.started,
    e.ended,
    e.episode_number = 1 as is_first,
    e.started - lag(e.ended) over person_episodes <= 365 as is_repeat,
    coalesce(lead(e.started) over person_episodes - e.ended <= 365, false) as repeated_within_365_days,
    exists (
        select 1 from advice as a
        where a.area = e.area and a.person_key = e.person_key and a.sent_day between e.started and e.ended + 30
    ) as followed_by_advice
from episodes as e
window person_episodes as (partition by e.area, e.person_key order by e.episode_number)
