-- Funding against demand by issue, area and year. Demand: referrals by primary issue, their growth on
-- the year before and the unmet part. Funding: each grant to a network organisation split equally over
-- the issues its services accept (grants to organisations accepting no issue are not attributed).
with demand as (
    select
        area, cast(sent_year as integer) as year, primary_issue,
        count(*) as referrals,
        count(*) filter (where decline_reason = 'no_capacity') as declined_no_capacity,
        count(*) filter (where decline_reason = 'not_eligible') as declined_not_eligible,
        count(*) filter (where decline_reason = 'out_of_area') as declined_out_of_area,
        count(*) filter (where status = 'expired') as expired
    from {{ ref('fct_referrals') }}
    group by all
),

recipients as (
    select area, org_identifier, issue, len(issues_accepted) as issues_count
    from {{ ref('int_grant_recipient_organisations') }}, unnest(issues_accepted) as u(issue)
),

funding as (
    select g.area, g.award_year as year, r.issue as primary_issue,
           count(distinct g.org_identifier) as funded_organisations,
           sum(g.amount_awarded / r.issues_count) as funding_attributed
    from {{ ref('int_grants_matched') }} as g
    join recipients as r using (area, org_identifier)
    where g.recipient_kind = 'network_organisation'
    group by all
),

accepting as (
    select area, issue as primary_issue, count(*) as accepting_organisations from recipients group by all
),

joined as (
    select
        coalesce(d.area, f.area) as area,
        coalesce(d.year, f.year) as year,
        coalesce(d.primary_issue, f.primary_issue) as primary_issue,
        coalesce(d.referrals, 0) as referrals,
        coalesce(d.declined_no_capacity, 0) as declined_no_capacity,
        coalesce(d.declined_not_eligible, 0) as declined_not_eligible,
        coalesce(d.declined_out_of_area, 0) as declined_out_of_area,
        coalesce(d.expired, 0) as expired,
        coalesce(f.funded_organisations, 0) as funded_organisations,
        round(coalesce(f.funding_attributed, 0), 2) as funding_attributed
    from demand as d
    full join funding as f using (area, year, primary_issue)
)

select
    j.area,
    j.year,
    j.primary_issue,
    g.issue_group,
    j.referrals,
    previous.referrals as referrals_last_year,
    case when previous.referrals >= 8 then round((j.referrals - previous.referrals) / previous.referrals, 4) end
        as demand_growth,
    j.declined_no_capacity,
    j.declined_not_eligible,
    j.declined_out_of_area,
    j.expired,
    j.declined_no_capacity + j.declined_not_eligible + j.declined_out_of_area + j.expired as unmet_referrals,
    coalesce(a.accepting_organisations, 0) as accepting_organisations,
    j.funded_organisations,
    j.funding_attributed,
    case when j.referrals >= 8 then round(j.funding_attributed / j.referrals, 2) end as funding_per_referral
from joined as j
left join joined as previous on previous.area = j.area and previous.year = j.year - 1 and previous.primary_issue = j.primary_issue
left join accepting as a on a.area = j.area and a.primary_issue = j.primary_issue
left join {{ ref('issue_groups') }} as g on g.issue = j.primary_issue
