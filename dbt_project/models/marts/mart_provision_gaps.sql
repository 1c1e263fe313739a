{{ config(tags=['published']) }}
-- Provision gaps: issue x place cells, per area and year, where residents were referred for the issue
-- but no service in the directory accepts that issue for that place (live by the end of the year).
with demand as (
    select area, sent_year as year, primary_issue, primary_issue_group as issue_group, place_code,
           count(*) as referrals
    from {{ ref('fct_referrals') }}
    where place_code is not null
    group by all
),

provision as (
    select distinct s.area, s.live_from, issue, place_code
    from {{ ref('dim_services') }} as s, unnest(s.issues) as i(issue), unnest(s.place_codes) as p(place_code)
),

places as (select distinct area, place_code, place_name from {{ ref('dim_geography') }})

select d.area, d.year, d.primary_issue, d.issue_group, d.place_code, p.place_name, d.referrals,
       0 as accepting_services
from demand as d
join places as p using (area, place_code)
where not exists (
    select 1 from provision as v
    where v.area = d.area and v.issue = d.primary_issue and v.place_code = d.place_code
      and v.live_from <= make_date(cast(d.year as integer), 12, 31)
)
