{{ config(tags=['published']) }}
-- Demand the network did not meet, per area and year sent: declines by reason (no_capacity is a
-- supply shortfall; not_eligible and out_of_area are provision gaps), expiries, cancellations,
-- bounces and referrals sent while the chosen service's intake was paused.
-- (The bounced people are counted apart, from the bounces alone: a distinct count inside the main
-- aggregate would pass every referral through its own hash table.)
with bounced as (
    select area, sent_year, count(distinct person_key) as bounced_people
    from {{ ref('fct_referrals') }}
    where is_bounce
    group by all
),

referrals as (
    select
        area,
        sent_year,
        count(*) as referrals,
        count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
        count(*) filter (where decline_reason = 'not_eligible') as declined_not_eligible,
        count(*) filter (where decline_reason = 'out_of_area') as declined_out_of_area,
        count(*) filter (where decline_reason = 'client_declined') as declined_by_client,
        count(*) filter (where decline_reason = 'duplicate') as declined_duplicate,
        count(*) filter (where decline_reason = 'other') as declined_other,
        count(*) filter (where status = 'expired') as expired,
        count(*) filter (where status = 'cancelled') as cancelled,
        count(*) filter (where is_bounce) as bounce_referrals,
        count(*) filter (where sent_during_paused_intake) as sent_during_paused_intake
    from {{ ref('fct_referrals') }}
    group by all
)

select
    r.area,
    r.sent_year as year,
    r.referrals,
    r.declined_no_capacity,
    r.declined_not_eligible,
    r.declined_out_of_area,
    r.declined_by_client,
    r.declined_duplicate,
    r.declined_other,
    r.expired,
    r.cancelled,
    r.bounce_referrals,
    coalesce(b.bounced_people, 0) as bounced_people,
    r.sent_during_paused_intake
from referrals as r
left join bounced as b using (area, sent_year)
