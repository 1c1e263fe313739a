-- Grants to the network's organisations per area, year and funder, with the issues their services
-- accept (canonical codes and groups).
with grants as (
    select area, award_year, funding_org_identifier, org_identifier, count(*) as grants,
           sum(amount_awarded) as amount_awarded, min(funding_org_name) as funding_org_name
    from {{ ref('int_grants_matched') }}
    where recipient_kind = 'network_organisation'
    group by all
),

groups as (
    select r.area, r.org_identifier, string_agg(distinct g.issue_group, ', ' order by g.issue_group) as issue_groups_accepted
    from {{ ref('int_grant_recipient_organisations') }} as r, unnest(r.issues_accepted) as u(issue)
    join {{ ref('issue_groups') }} as g on g.issue = u.issue
    group by all
)

select
    g.area,
    g.award_year as year,
    g.funding_org_identifier,
    g.funding_org_name,
    g.org_identifier,
    r.organisation_names,
    r.organisation_type,
    array_to_string(r.issues_accepted, ', ') as issues_accepted,
    gr.issue_groups_accepted,
    g.grants,
    g.amount_awarded
from grants as g
join {{ ref('int_grant_recipient_organisations') }} as r using (area, org_identifier)
left join groups as gr using (area, org_identifier)
