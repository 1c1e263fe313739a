{{ config(tags=['published']) }}
-- Unmet demand by issue and place (the unit the area's services cover: a ward or a district), per
-- area and year sent, for ranking where people are turned away. Referrals whose neighbourhood is
-- unknown or outside the area are under place_code 'unknown'.
-- Counted by place first, and the places named after (a few thousand rows to join, not every referral).
with counts as (
    select
        area,
        sent_year as year,
        primary_issue,
        primary_issue_group as issue_group,
        place_code,
        count(*) as referrals,
        count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
        count(*) filter (where decline_reason = 'not_eligible') as declined_not_eligible,
        count(*) filter (where decline_reason = 'out_of_area') as declined_out_of_area,
        count(*) filter (where status = 'expired') as expired,
        count(*) filter (where is_bounce) as bounce_referrals,
        count(*) filter (where sent_during_paused_intake) as sent_during_paused_intake
    from {{ ref('fct_referrals') }}
    group by area, sent_year, primary_issue, primary_issue_group, place_code
)

select
    c.area,
    c.year,
    c.primary_issue,
    c.issue_group,
    coalesce(c.place_code, 'unknown') as place_code,
    coalesce(g.place_name, 'Unknown or outside the area') as place_name,
    c.referrals,
    c.declined_no_capacity,
    c.declined_not_eligible,
    c.declined_out_of_area,
    c.expired,
    c.bounce_referrals,
    c.sent_during_paused_intake
from counts as c
left join (select area, place_code, any_value(place_name) as place_name from {{ ref('dim_geography') }} group by all) as g
    on g.area = c.area and g.place_code = c.place_code
