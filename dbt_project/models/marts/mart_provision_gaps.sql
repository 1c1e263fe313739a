{{ config(tags=['published']) }}
-- Provision gaps: issue x place cells, per area and year, where residents were referred for the issue
-- but no service in the directory accepts that issue for that place (live by the end of the year).
-- Demand by issue and place is already counted in mart_unmet_demand_by_issue_place.
with demand as (
    select area, year, primary_issue, issue_group, place_code, place_name, referrals
    from {{ ref('mart_unmet_demand_by_issue_place') }}
    where place_code <> 'unknown'
),

provision as (
    select distinct s.area, s.live_from, issue, place_code
    from {{ ref('dim_services') }} as s, unnest(s.issues) as i(issue), unnest(s.place_codes) as p(place_code)
)

select d.area, d.year, d.primary_issue, d.issue_group, d.place_code, d.place_name, d.referrals,
       0 as accepting_services
from demand as d
where not exists (
    select 1 from provision as v
    where v.area = d.area and v.issue = d.primary_issue and v.place_code = d.place_code
      and v.live_from <= make_date(cast(d.year as integer), 12, 31)
)
