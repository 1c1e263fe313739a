{{ config(tags=['published']) }}
-- Unmet demand by issue and place (the unit the area's services cover: a ward or a district), per
-- area and year sent, for ranking where people are turned away. Referrals whose neighbourhood is
-- unknown or outside the area are under place_code 'unknown'.
select
    f.area,
    f.sent_year as year,
    f.primary_issue,
    f.primary_issue_group as issue_group,
    coalesce(f.place_code, 'unknown') as place_code,
    coalesce(any_value(g.place_name), 'Unknown or outside the area') as place_name,
    count(*) as referrals,
    count(*) filter (where f.decline_reason = 'no_capacity') as declined_no_capacity,
    count(*) filter (where f.decline_reason = 'not_eligible') as declined_not_eligible,
    count(*) filter (where f.decline_reason = 'out_of_area') as declined_out_of_area,
    count(*) filter (where f.status = 'expired') as expired,
    count(*) filter (where f.is_bounce) as bounce_referrals,
    count(*) filter (where f.sent_during_paused_intake) as sent_during_paused_intake
from {{ ref('fct_referrals') }} as f
left join (select distinct area, place_code, place_name from {{ ref('dim_geography') }}) as g
    on g.area = f.area and g.place_code = f.place_code
group by f.area, f.sent_year, f.primary_issue, f.primary_issue_group, coalesce(f.place_code, 'unknown')
